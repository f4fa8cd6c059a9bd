import {CreateAutoScalingGroupCommand, DeleteAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, type Instance} from '@aws-sdk/client-auto-scaling'
import {CreateLaunchTemplateCommand, DeleteLaunchTemplateCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, type _InstanceType} from '@aws-sdk/client-ec2'
import {regionFacts, type AwsClients} from '../clients.js'
import {GetParameterCommand} from '@aws-sdk/client-ssm'
import {UserError} from '../../errors.js'
import {explainAwsError} from '../errors.js'
import {done, names, remember, required, unlessNotFound, type Scope, type Step, type StepContext, type StepReport} from '../step.js'
import {DEPLOYMENT_TAG, tags, tagSpecifications, tagValue} from '../tags.js'
import {renderUserData} from '../user-data.js'
import {artifacts} from './software.js'
import {errorCode, retrying, waitFor} from '../wait.js'

/** Canonical's public parameter for the current Ubuntu 22.04 AMI of an architecture. */
export const ubuntuAmiParameter = (architecture: string) => `/aws/service/canonical/ubuntu/server/22.04/stable/current/${architecture}/hvm/ebs-gp2/ami-id`

async function imageId(ctx: StepContext): Promise<string> {
  if (ctx.spec.amiId) return ctx.spec.amiId
  try {
    const {Parameter} = await ctx.aws.ssm.send(new GetParameterCommand({Name: ubuntuAmiParameter(ctx.topology.architecture)}))
    return Parameter!.Value!
  } catch (error) {
    throw explainAwsError(error, 'ssm:GetParameter')
  }
}

async function findTemplate(aws: AwsClients, name: string) {
  const {LaunchTemplates = []} = await aws.ec2
    .send(new DescribeLaunchTemplatesCommand({LaunchTemplateNames: [name]}))
    .catch((error: unknown) => {
      if (['InvalidLaunchTemplateName.NotFoundException', 'InvalidLaunchTemplateName.NotFound'].includes(errorCode(error))) return {LaunchTemplates: []}
      throw error
    })
  return LaunchTemplates[0]
}

/** What a launch-template version ships, in its description: `gwlb status` tells each appliance's software by it. */
export const softwareDescription = (gwlb: string, sha256: string, node: string) => `gwlb ${gwlb} (sha256 ${sha256.slice(0, 12)}), Node.js ${node}`

/** A fresh instance profile can be refused for a few seconds (IAM is eventually consistent). */
const profileNotVisibleYet = (error: unknown) => /instance profile|iamInstanceProfile/i.test((error as Error).message ?? '') && errorCode(error).startsWith('Invalid')

export const launchTemplate: Step = {
  id: 'launch-template',
  title: 'Launch template',
  needs: ['security-group', 'instance-profile', 'appliance-software'],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).launchTemplate
    const template = await findTemplate(ctx.aws, name)
    if (!template) return {resources: [], missing: [`launch template ${name} (${ctx.spec.instanceType}, ${ctx.spec.amiId ?? 'Ubuntu 22.04'}, IMDSv2 required)`]}
    if (tagValue(template.Tags, DEPLOYMENT_TAG) !== ctx.spec.name)
      throw new UserError(`launch template ${name} exists and is not part of deployment ${ctx.spec.name}`, 'choose another --name')
    return done([{type: 'launch-template', id: template.LaunchTemplateId!, name, detail: `version ${template.LatestVersionNumber}`}])
  },

  async create(ctx) {
    const name = names(ctx.spec, ctx.topology.region).launchTemplate
    const instanceName = `gwlb-${ctx.spec.name}-appliance`
    const staged = await artifacts(ctx)
    const {region, architecture} = ctx.topology
    const userData = renderUserData(ctx.spec, {...staged, region, architecture, dnsSuffix: regionFacts(region).dnsSuffix, endpoint: ctx.aws.s3Endpoint})
    const {LaunchTemplate} = await retrying(async () => ctx.aws.ec2.send(new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      VersionDescription: softwareDescription(staged.gwlb.version, staged.gwlb.sha256, staged.node.version),
      LaunchTemplateData: {
        ImageId: await imageId(ctx),
        InstanceType: ctx.spec.instanceType as _InstanceType,
        KeyName: ctx.spec.keyName,
        IamInstanceProfile: {Arn: required(ctx, 'instance-profile').id},
        SecurityGroupIds: [required(ctx, 'security-group').id],
        // IMDSv2 only: the appliance reads its identity with a session token.
        MetadataOptions: {HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1},
        UserData: Buffer.from(userData).toString('base64'),
        // The instance's own tag is what its role's policy checks before it may touch the source/dest check.
        TagSpecifications: [
          {ResourceType: 'instance', Tags: tags(ctx.spec.name, instanceName)},
          {ResourceType: 'volume', Tags: tags(ctx.spec.name, instanceName)},
          {ResourceType: 'network-interface', Tags: tags(ctx.spec.name, instanceName)},
        ],
      },
      TagSpecifications: tagSpecifications('launch-template', ctx.spec.name, name),
    })), profileNotVisibleYet, {attempts: 10, delayMs: ctx.timing.pollMs})
    return done([{type: 'launch-template', id: LaunchTemplate!.LaunchTemplateId!, name, detail: `version ${LaunchTemplate!.LatestVersionNumber}`}])
  },

  async owned(scope) {
    const name = names({name: scope.deployment}, scope.region).launchTemplate
    const template = await findTemplate(scope.aws, name)
    return template && tagValue(template.Tags, DEPLOYMENT_TAG) === scope.deployment
      ? [{type: 'launch-template', id: template.LaunchTemplateId!, name, detail: `version ${template.LatestVersionNumber}`}]
      : []
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.ec2.send(new DeleteLaunchTemplateCommand({LaunchTemplateId: r.id})).catch(unlessNotFound())
  },
}

/** The deployment's Auto Scaling group (read once per status run: the target group's report wants it too). */
function findGroup(scope: Scope) {
  return remember(scope, 'auto-scaling-group', async () => {
    const name = names({name: scope.deployment}, scope.region).autoScalingGroup
    const {AutoScalingGroups = []} = await scope.aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [name]}))
    return AutoScalingGroups.find((g) => tagValue(g.Tags, DEPLOYMENT_TAG) === scope.deployment)
  })
}

/** The group's instances (none without a group). */
export const groupInstances = async (scope: Scope) => (await findGroup(scope))?.Instances ?? []

export interface FleetDetail {
  name: string
  desired: number
  min: number
  max: number
  inService: number
  instances: {id: string; az: string; lifecycle: string; health: string; software?: string}[]
}

/** Each launch-template version names the software it ships: what its instances run. */
async function softwareOf(scope: Scope, instances: Instance[]): Promise<(version?: string) => string | undefined> {
  const versions = [...new Set(instances.map((i) => i.LaunchTemplate?.Version).filter((v): v is string => Boolean(v)))]
  const template = instances.find((i) => i.LaunchTemplate?.LaunchTemplateId)?.LaunchTemplate?.LaunchTemplateId
  const {LaunchTemplateVersions = []} = template && versions.length
    ? await scope.aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateId: template, Versions: versions}))
    : {}
  return (version) => LaunchTemplateVersions.find((v) => String(v.VersionNumber) === version)?.VersionDescription
}

export const autoScalingGroup: Step = {
  id: 'auto-scaling-group',
  title: 'Auto Scaling group',
  needs: ['launch-template', 'target-group', 'listener', 'egress-routes', 's3-endpoint'],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).autoScalingGroup
    const {AutoScalingGroups = []} = await ctx.aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [name]}))
    const group = AutoScalingGroups[0]
    if (!group) return {resources: [], missing: [`auto scaling group ${name} (${ctx.spec.minSize}-${ctx.spec.maxSize}, desired ${ctx.spec.desiredCapacity}, ELB health checks)`]}
    if (tagValue(group.Tags, DEPLOYMENT_TAG) !== ctx.spec.name)
      throw new UserError(`auto scaling group ${name} exists and is not part of deployment ${ctx.spec.name}`, 'choose another --name')
    return done([{type: 'auto-scaling-group', id: group.AutoScalingGroupName!, name, detail: `${group.Instances?.length ?? 0}/${group.DesiredCapacity} instances`}])
  },

  async create(ctx) {
    const name = names(ctx.spec, ctx.topology.region).autoScalingGroup
    await ctx.aws.autoscaling.send(new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: {LaunchTemplateId: required(ctx, 'launch-template').id, Version: '$Latest'},
      MinSize: ctx.spec.minSize,
      MaxSize: ctx.spec.maxSize,
      DesiredCapacity: ctx.spec.desiredCapacity,
      VPCZoneIdentifier: ctx.spec.applianceSubnets.join(','),
      TargetGroupARNs: [required(ctx, 'target-group').id],
      HealthCheckType: 'ELB',
      // First boot fetches and unpacks Node.js and gwlb (no compiling): well within this before ELB health counts.
      HealthCheckGracePeriod: 300,
      Tags: tags(ctx.spec.name, `gwlb-${ctx.spec.name}-appliance`).map((t) => ({...t, PropagateAtLaunch: true, ResourceId: name, ResourceType: 'auto-scaling-group'})),
    }))
    return done([{type: 'auto-scaling-group', id: name, name, detail: `desired ${ctx.spec.desiredCapacity}`}])
  },

  async owned(scope) {
    const group = await findGroup(scope)
    return group ? [{type: 'auto-scaling-group', id: group.AutoScalingGroupName!, name: group.AutoScalingGroupName, detail: `${group.Instances?.length ?? 0} instances`}] : []
  },

  async report(scope): Promise<StepReport> {
    const g = (await findGroup(scope))!
    const software = await softwareOf(scope, g.Instances ?? [])
    const instances = (g.Instances ?? []).map((i) => ({
      id: i.InstanceId!, az: i.AvailabilityZone!, lifecycle: i.LifecycleState!, health: i.HealthStatus!, software: software(i.LaunchTemplate?.Version),
    }))
    const inService = instances.filter((i) => i.lifecycle === 'InService').length
    const counts = new Map<string, number>()
    for (const i of instances) counts.set(i.az, (counts.get(i.az) ?? 0) + 1)
    const byAz = [...counts].map(([az, n]) => `${az}: ${n}`).join(', ')
    return {
      problems: inService < g.DesiredCapacity! ? [`${inService} of ${g.DesiredCapacity} appliances in service`] : [], hints: [],
      detail: {name: g.AutoScalingGroupName!, desired: g.DesiredCapacity!, min: g.MinSize!, max: g.MaxSize!, inService, instances} satisfies FleetDetail,
      summary: `Auto Scaling group ${g.AutoScalingGroupName}: ${inService}/${g.DesiredCapacity} in service (min ${g.MinSize}, max ${g.MaxSize})${byAz ? `, ${byAz}` : ''}`,
      table: instances.length ? [['instance', 'AZ', 'lifecycle', 'health', 'software'], ...instances.map((i) => [i.id, i.az, i.lifecycle, i.health, i.software ?? ''])] : undefined,
    }
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.autoscaling.send(new DeleteAutoScalingGroupCommand({AutoScalingGroupName: r.id, ForceDelete: true})).catch(unlessNotFound())
    // Its instances hold the security group and the subnets: wait until they (and the group) are gone.
    if (owned.length)
      await waitFor(async () => ((await findGroup({...scope, cache: undefined})) ? undefined : true), {
        what: 'the Auto Scaling group and its instances to be deleted', timeoutMs: scope.timing.timeoutMs, intervalMs: scope.timing.pollMs,
        progress: (s) => scope.progress(`terminating appliances, ${s}s`),
      })
  },
}
