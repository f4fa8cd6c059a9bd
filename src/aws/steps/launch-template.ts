import type {_InstanceType, LaunchTemplateVersion, RequestLaunchTemplateData} from '@aws-sdk/client-ec2'
import {CreateLaunchTemplateCommand, CreateLaunchTemplateVersionCommand, DeleteLaunchTemplateCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, ModifyLaunchTemplateCommand} from '../../sdk/ec2.js'
import {DescribeTargetGroupsCommand} from '../../sdk/elastic-load-balancing-v2.js'
import {GetParameterCommand} from '../../sdk/ssm.js'
import {UserError} from '../../errors.js'
import {regionFacts, type AwsClients} from '../clients.js'
import {explainAwsError} from '../errors.js'
import type {DeploymentSpec} from '../spec.js'
import {differences, done, drift, names, required, unlessNotFound, type Resource, type Step, type StepContext, type StepReport} from '../step.js'
import {DEPLOYMENT_TAG, tags, tagSpecifications, tagValue} from '../tags.js'
import {shown, USER_DATA_SETTINGS} from '../settings-table.js'
import {renderUserData, settingsIn} from '../user-data.js'
import {gwlbSourceCidrs} from './security-group.js'
import {errorCode, retrying} from '../wait.js'
import {artifacts} from './software.js'

/** Canonical's public parameter for the current Ubuntu 22.04 AMI of an architecture. */
export const ubuntuAmiParameter = (architecture: string) => `/aws/service/canonical/ubuntu/server/22.04/stable/current/${architecture}/hvm/ebs-gp2/ami-id`

async function canonicalImage(ctx: StepContext): Promise<string> {
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

async function latestVersion(aws: AwsClients, templateId: string): Promise<LaunchTemplateVersion> {
  const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateId: templateId, Versions: ['$Latest']}))
  return LaunchTemplateVersions[0]!
}

/** What a launch-template version ships, in its description: `gwlb status` tells each appliance's software by it. */
export const softwareDescription = (gwlb: string, sha256: string, node: string) => `gwlb ${gwlb} (sha256 ${sha256.slice(0, 12)}), Node.js ${node}`

/** What the instances carry, as a launch-template version has it: its own fields, and the settings its user data names. */
function carried(version: {LaunchTemplateData?: {InstanceType?: string; ImageId?: string; KeyName?: string; UserData?: string}; VersionDescription?: string}) {
  const data = version.LaunchTemplateData ?? {}
  const userData = Buffer.from(data.UserData ?? '', 'base64').toString()
  const sources = /gwlb appliance install .*--allowed-sources (\S+)/.exec(userData)?.[1]
  return {instanceType: data.InstanceType, image: data.ImageId, keyName: data.KeyName, settings: settingsIn(userData), sources, software: version.VersionDescription}
}

type Carried = ReturnType<typeof carried>

/**
 * Without --ami-id the image stays what the fleet runs: a new Canonical build does not roll a fleet by itself.
 * The software and the GENEVE sources are init's to judge (they come from what it stages and finds), not drift.
 */
const comparison = (now: Carried, spec: DeploymentSpec, made?: {software: string; sources: string}): [string, unknown, unknown][] => [
  ['instance type', now.instanceType, spec.instanceType],
  ['AMI', now.image, spec.amiId ?? now.image],
  ['key pair', now.keyName, spec.keyName],
  // A setting a version's user data does not name (made before the setting was) is taken as the one asked.
  ...USER_DATA_SETTINGS.map((s): [string, unknown, unknown] => [s.label, shown(s.key in now.settings ? now.settings[s.key] : spec[s.key]), shown(spec[s.key])]),
  ...(made ? [['software', now.software, made.software], ['GENEVE sources', now.sources, made.sources]] as [string, unknown, unknown][] : []),
]

/**
 * The target group's present health-check port, when it is not the one asked for: the new instances answer
 * on it too, so that they count as healthy before the health check moves (after the fleet has rolled).
 */
async function portInFlight(ctx: StepContext): Promise<number[]> {
  const name = names(ctx.spec, ctx.topology.region).targetGroup
  const {TargetGroups = []} = await ctx.aws.elb.send(new DescribeTargetGroupsCommand({Names: [name]})).catch(() => ({TargetGroups: []}))
  const port = Number(TargetGroups[0]?.HealthCheckPort)
  return port && port !== ctx.spec.healthPort ? [port] : []
}

/** The whole template data for this spec: a new template, or a new version of it. */
async function templateData(ctx: StepContext, image: string | undefined): Promise<{data: RequestLaunchTemplateData; description: string}> {
  const staged = await artifacts(ctx)
  const {region, architecture} = ctx.topology
  const source = {...staged, region, architecture, dnsSuffix: regionFacts(region).dnsSuffix, endpoint: ctx.aws.s3Endpoint}
  const userData = renderUserData(ctx.spec, source, {allowedSources: gwlbSourceCidrs(ctx), alsoHealthPorts: await portInFlight(ctx)})
  const instanceName = `gwlb-${ctx.spec.name}-appliance`
  return {
    description: softwareDescription(staged.gwlb.version, staged.gwlb.sha256, staged.node.version),
    data: {
      ImageId: ctx.spec.amiId ?? image ?? (await canonicalImage(ctx)),
      InstanceType: ctx.spec.instanceType as _InstanceType,
      KeyName: ctx.spec.keyName,
      IamInstanceProfile: {Arn: required(ctx, 'instance-profile').id},
      SecurityGroupIds: [required(ctx, 'security-group').id],
      // IMDSv2 only: the appliance reads its identity with a session token.
      MetadataOptions: {HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1},
      UserData: Buffer.from(userData).toString('base64'),
      // The instance's own tag is what its role's policy checks before it may touch the source/dest check.
      TagSpecifications: ['instance', 'volume', 'network-interface'].map((type) => ({ResourceType: type as 'instance', Tags: tags(ctx.spec.name, instanceName)})),
    },
  }
}

/** A fresh instance profile can be refused for a few seconds (IAM is eventually consistent). */
const profileNotVisibleYet = (error: unknown) => /instance profile|iamInstanceProfile/i.test((error as Error).message ?? '') && errorCode(error).startsWith('Invalid')

const resource = (id: string, name: string, version: number | undefined): Resource => ({type: 'launch-template', id, name, detail: `version ${version}`})

/**
 * The appliances' launch template. What the instances carry (instance type, AMI, key, mode, health port,
 * software) is compared with what is asked; a difference makes a new version, which the Auto Scaling group
 * then rolls out with an instance refresh.
 */
export const launchTemplate: Step = {
  id: 'launch-template',
  title: 'Launch template',
  needs: ['security-group', 'instance-profile', 'appliance-software', 'target-group'],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).launchTemplate
    const template = await findTemplate(ctx.aws, name)
    if (!template) return {resources: [], missing: [`launch template ${name} (${ctx.spec.instanceType}, ${ctx.spec.amiId ?? 'Ubuntu 22.04'}, IMDSv2 required)`]}
    if (tagValue(template.Tags, DEPLOYMENT_TAG) !== ctx.spec.name)
      throw new UserError(`launch template ${name} exists and is not part of deployment ${ctx.spec.name}`, 'choose another --name')
    const staged = await artifacts(ctx)
    const changed = differences(comparison(carried(await latestVersion(ctx.aws, template.LaunchTemplateId!)), ctx.spec,
      {software: softwareDescription(staged.gwlb.version, staged.gwlb.sha256, staged.node.version), sources: gwlbSourceCidrs(ctx).join(',')}))
    const next = (template.LatestVersionNumber ?? 0) + 1
    return {resources: [resource(template.LaunchTemplateId!, name, template.LatestVersionNumber)], missing: changed.length ? [`version ${next}: ${changed.join(', ')}`] : []}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).launchTemplate
    const existing = found.resources[0]
    if (existing) {
      const {data, description} = await templateData(ctx, (await latestVersion(ctx.aws, existing.id)).LaunchTemplateData?.ImageId)
      const {LaunchTemplateVersion} = await ctx.aws.ec2.send(new CreateLaunchTemplateVersionCommand({LaunchTemplateId: existing.id, VersionDescription: description, LaunchTemplateData: data}))
      const version = LaunchTemplateVersion!.VersionNumber!
      await ctx.aws.ec2.send(new ModifyLaunchTemplateCommand({LaunchTemplateId: existing.id, DefaultVersion: String(version)}))
      return done([resource(existing.id, name, version)])
    }
    const {data, description} = await templateData(ctx, undefined)
    const {LaunchTemplate} = await retrying(async () => ctx.aws.ec2.send(new CreateLaunchTemplateCommand({
      LaunchTemplateName: name, VersionDescription: description, LaunchTemplateData: data,
      TagSpecifications: tagSpecifications('launch-template', ctx.spec.name, name),
    })), profileNotVisibleYet, {attempts: 10, delayMs: ctx.timing.pollMs})
    return done([resource(LaunchTemplate!.LaunchTemplateId!, name, LaunchTemplate!.LatestVersionNumber)])
  },

  async owned(scope) {
    const name = names({name: scope.deployment}, scope.region).launchTemplate
    const template = await findTemplate(scope.aws, name)
    return template && tagValue(template.Tags, DEPLOYMENT_TAG) === scope.deployment ? [resource(template.LaunchTemplateId!, name, template.LatestVersionNumber)] : []
  },

  /** Drift: what the latest version carries against the stored settings (the software is init's to judge). */
  async report(scope, found): Promise<StepReport> {
    const latest = carried(await latestVersion(scope.aws, found[0]!.id))
    return {
      problems: scope.settings ? drift(scope, comparison(latest, scope.settings)) : [], hints: [],
      summary: `Launch template ${found[0]!.name}: ${found[0]!.detail}, ${latest.instanceType}, ${String(latest.settings.mode)}, health port ${String(latest.settings.healthPort)}`,
    }
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.ec2.send(new DeleteLaunchTemplateCommand({LaunchTemplateId: r.id})).catch(unlessNotFound())
  },
}
