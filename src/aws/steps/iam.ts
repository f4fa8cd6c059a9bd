import {AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, DeleteInstanceProfileCommand, DeleteRoleCommand, DeleteRolePolicyCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, ListRolePoliciesCommand, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand} from '../../sdk/iam.js'
import {DEPLOYMENT_TAG, tags, tagValue} from '../tags.js'
import {errorCode} from '../wait.js'
import {REPORTS_PREFIX} from '../../fleet-report.js'
import {SCALING_METRIC} from '../../scaling-metric.js'
import {alertsGroup} from './log-group.js'
import {APPLIANCE_PREFIX} from './software.js'
import {done, names, required, unlessNotFound, type Scope, type Step, type StepContext} from '../step.js'

export const POLICY_NAME = 'gwlb-source-dest-check'

const notFound = (error: unknown) => {
  if (errorCode(error) === 'NoSuchEntityException' || errorCode(error) === 'NoSuchEntity') return undefined
  throw error
}

/**
 * All an appliance may do: read, and set, the source/destination check of instances of its own deployment
 * (by tag) — no other attribute, no other instance — read what init staged for it in the deployment's bucket, write
 * its report there, and
 * (with an inspection engine) write its alerts to the deployment's log group.
 */
export function appliancePolicy(ctx: StepContext): string {
  const {partition, region, account} = ctx.topology
  const ownInstances = {
    Resource: `arn:${partition}:ec2:${region}:${account}:instance/*`,
    Condition: {StringEquals: {[`aws:ResourceTag/${DEPLOYMENT_TAG}`]: ctx.spec.name}},
  }
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{
      Sid: 'OwnDeploymentReadSourceDestCheck',
      Effect: 'Allow',
      Action: 'ec2:DescribeInstanceAttribute',
      ...ownInstances,
    }, {
      Sid: 'OwnDeploymentSetSourceDestCheckOnly',
      Effect: 'Allow',
      Action: 'ec2:ModifyInstanceAttribute',
      Resource: ownInstances.Resource,
      // The key is present only when the call sets SourceDestCheck (one attribute per call).
      Condition: {...ownInstances.Condition, Null: {'ec2:Attribute/SourceDestCheck': 'false'}},
    }, {
      Sid: 'StagedSoftware',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: `arn:${partition}:s3:::${names(ctx.spec, region).bucket(account)}/${APPLIANCE_PREFIX}*`,
    }, {
      // gwlb appliance report: what it says of itself, for status (any appliance of the deployment could write
      // another's: a report is only ever an appliance's own word).
      Sid: 'OwnReport',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: `arn:${partition}:s3:::${names(ctx.spec, region).bucket(account)}/${REPORTS_PREFIX}*`,
    }, {
      // gwlb appliance lifecycle: the appliance completes its own launch and terminate hooks, on its own group only.
      Sid: 'OwnLifecycleHooks',
      Effect: 'Allow',
      Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      Resource: `arn:${partition}:autoscaling:${region}:${account}:autoScalingGroup:*:autoScalingGroupName/${names(ctx.spec, region).autoScalingGroup}`,
    }, {
      // gwlb appliance report: its packets a second, the group's scaling metric (PutMetricData has no resource but its namespace).
      Sid: 'ScalingMetric',
      Effect: 'Allow',
      Action: 'cloudwatch:PutMetricData',
      Resource: '*',
      Condition: {StringEquals: {'cloudwatch:namespace': SCALING_METRIC.Namespace}},
    }, ...ctx.spec.ids === 'none' ? [] : [{
      // gwlb appliance ship-alerts: its own stream, and the stream's events to settle a batch cut off by a restart.
      Sid: 'ShipAlerts',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:GetLogEvents'],
      Resource: `arn:${partition}:logs:${region}:${account}:log-group:${alertsGroup(ctx.spec.name)}:*`,
    }]],
  })
}

const trustPolicy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{Effect: 'Allow', Principal: {Service: 'ec2.amazonaws.com'}, Action: 'sts:AssumeRole'}],
})

export const iamRole: Step = {
  id: 'iam-role',
  title: 'IAM role for the appliances',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).role
    const role = await ctx.aws.iam.send(new GetRoleCommand({RoleName: name})).catch(notFound)
    if (!role?.Role) return {resources: [], missing: [`IAM role ${name} with policy ${POLICY_NAME}`]}
    const resources = [{type: 'iam-role', id: role.Role.Arn!, name}]
    const policy = await ctx.aws.iam.send(new GetRolePolicyCommand({RoleName: name, PolicyName: POLICY_NAME})).catch(notFound)
    // IAM answers the document URL-encoded.
    const current = policy?.PolicyDocument && JSON.stringify(JSON.parse(decodeURIComponent(policy.PolicyDocument)))
    return {resources, missing: !policy ? [`inline policy ${POLICY_NAME}`] : current !== appliancePolicy(ctx) ? [`inline policy ${POLICY_NAME} brought up to date`] : []}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).role
    let arn = found.resources[0]?.id
    if (!arn) {
      const {Role} = await ctx.aws.iam.send(new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: trustPolicy,
        Description: `gwlb ${ctx.spec.name}: appliances turn off their own source/destination check`,
        Tags: tags(ctx.spec.name, name),
      }))
      arn = Role!.Arn!
    }
    await ctx.aws.iam.send(new PutRolePolicyCommand({RoleName: name, PolicyName: POLICY_NAME, PolicyDocument: appliancePolicy(ctx)}))
    return done([{type: 'iam-role', id: arn, name}])
  },

  async owned(scope) {
    const name = roleName(scope)
    const role = (await scope.aws.iam.send(new GetRoleCommand({RoleName: name})).catch(notFound))?.Role
    return role && tagValue(role.Tags, DEPLOYMENT_TAG) === scope.deployment ? [{type: 'iam-role', id: role.Arn!, name}] : []
  },

  async remove(scope, owned) {
    for (const r of owned) {
      const {PolicyNames = []} = (await scope.aws.iam.send(new ListRolePoliciesCommand({RoleName: r.name})).catch(notFound)) ?? {}
      for (const policy of PolicyNames) await scope.aws.iam.send(new DeleteRolePolicyCommand({RoleName: r.name, PolicyName: policy})).catch(unlessNotFound())
      await scope.aws.iam.send(new DeleteRoleCommand({RoleName: r.name})).catch(unlessNotFound())
    }
  },
}

const roleName = (scope: Scope) => names({name: scope.deployment}, scope.region).role

export const instanceProfile: Step = {
  id: 'instance-profile',
  title: 'Instance profile',
  needs: ['iam-role'],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).role
    const found = await ctx.aws.iam.send(new GetInstanceProfileCommand({InstanceProfileName: name})).catch(notFound)
    const profile = found?.InstanceProfile
    if (!profile) return {resources: [], missing: [`instance profile ${name}`]}
    const resources = [{type: 'instance-profile', id: profile.Arn!, name}]
    return {resources, missing: profile.Roles?.some((r) => r.RoleName === name) ? [] : [`role ${name} in the profile`]}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).role
    let arn = found.resources[0]?.id
    if (!arn) {
      const {InstanceProfile} = await ctx.aws.iam.send(new CreateInstanceProfileCommand({InstanceProfileName: name, Tags: tags(ctx.spec.name, name)}))
      arn = InstanceProfile!.Arn!
    }
    required(ctx, 'iam-role')
    await ctx.aws.iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: name, RoleName: name}))
    return done([{type: 'instance-profile', id: arn, name}])
  },

  async owned(scope) {
    const name = roleName(scope)
    const profile = (await scope.aws.iam.send(new GetInstanceProfileCommand({InstanceProfileName: name})).catch(notFound))?.InstanceProfile
    return profile && tagValue(profile.Tags, DEPLOYMENT_TAG) === scope.deployment ? [{type: 'instance-profile', id: profile.Arn!, name}] : []
  },

  async remove(scope, owned) {
    for (const r of owned) {
      const profile = (await scope.aws.iam.send(new GetInstanceProfileCommand({InstanceProfileName: r.name})).catch(notFound))?.InstanceProfile
      for (const role of profile?.Roles ?? [])
        await scope.aws.iam.send(new RemoveRoleFromInstanceProfileCommand({InstanceProfileName: r.name, RoleName: role.RoleName})).catch(unlessNotFound())
      await scope.aws.iam.send(new DeleteInstanceProfileCommand({InstanceProfileName: r.name})).catch(unlessNotFound())
    }
  },
}
