import type {AutoScalingGroup, Instance} from '@aws-sdk/client-auto-scaling'
import {CreateAutoScalingGroupCommand, DeleteAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, DescribeScalingActivitiesCommand, UpdateAutoScalingGroupCommand} from '../../sdk/auto-scaling.js'
import {DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand} from '../../sdk/ec2.js'
import {UserError} from '../../errors.js'
import type {FleetReport} from '../../fleet-report.js'
import {fleetReports, reportCells, reportProblems} from '../fleet-reports.js'
import {rollOut, runningRefresh} from '../rollout.js'
import type {DeploymentSpec} from '../spec.js'
import {differences, done, drift, names, remember, required, unlessNotFound, type Scope, type Step, type StepContext, type StepReport, type StepState} from '../step.js'
import {DEPLOYMENT_TAG, tags, tagValue} from '../tags.js'
import {waitFor} from '../wait.js'
import {hookSpecifications} from './lifecycle-hooks.js'

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
  /** With what each said of itself last (gwlb appliance report), if it did. */
  instances: {id: string; az: string; lifecycle: string; health: string; software?: string; report?: FleetReport}[]
  /** The group's latest scaling activities, newest first. */
  activities: {at: string; status: string; description: string; message?: string}[]
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

/** The group's bounds; its desired capacity too, unless a scaling policy moves it. */
const sizes = (g: AutoScalingGroup, spec: DeploymentSpec): [string, unknown, unknown][] =>
  [['min size', g.MinSize, spec.minSize], ['max size', g.MaxSize, spec.maxSize], ...(spec.scaleOn === 'none' ? [['desired capacity', g.DesiredCapacity, spec.desiredCapacity] as [string, unknown, unknown]] : [])]

/** The group's appliances launched from an older version than the template's latest. */
async function behind(ctx: StepContext, group: AutoScalingGroup): Promise<Instance[]> {
  const {LaunchTemplates = []} = await ctx.aws.ec2.send(new DescribeLaunchTemplatesCommand({LaunchTemplateIds: [required(ctx, 'launch-template').id]}))
  const latest = String(LaunchTemplates[0]?.LatestVersionNumber)
  return (group.Instances ?? []).filter((i) => i.LaunchTemplate?.Version !== latest)
}

/**
 * The appliance fleet. On a re-run its sizes are brought to the settings in place, and appliances that run
 * an older launch-template version (a new version was made for a changed mode, port, type, AMI or gwlb) are
 * replaced by an instance refresh that keeps healthy capacity.
 */
export const autoScalingGroup: Step = {
  id: 'auto-scaling-group',
  title: 'Auto Scaling group',
  needs: ['launch-template', 'target-group', 'listener', 'egress-routes', 's3-endpoint'],
  enabled: () => true,

  async find(ctx): Promise<StepState> {
    const name = names(ctx.spec, ctx.topology.region).autoScalingGroup
    const {AutoScalingGroups = []} = await ctx.aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [name]}))
    const group = AutoScalingGroups[0]
    if (!group) return {resources: [], missing: [`auto scaling group ${name} (${ctx.spec.minSize}-${ctx.spec.maxSize}, desired ${ctx.spec.desiredCapacity}, ELB health checks)`]}
    if (tagValue(group.Tags, DEPLOYMENT_TAG) !== ctx.spec.name)
      throw new UserError(`auto scaling group ${name} exists and is not part of deployment ${ctx.spec.name}`, 'choose another --name')
    const resources = [{type: 'auto-scaling-group', id: group.AutoScalingGroupName!, name, detail: `${group.Instances?.length ?? 0}/${group.DesiredCapacity} instances`}]
    // In the plan a new template version is still to come: then every appliance is to be replaced.
    const newVersion = (ctx.states.get('launch-template')?.missing.length ?? 0) > 0
    const stale = newVersion ? (group.Instances ?? []) : await behind(ctx, group)
    const running = await runningRefresh(ctx.aws, name)
    const replaces = stale.length || running
      ? `${running ? `the instance refresh under way (${running.PercentageComplete ?? 0}%)` : `${stale.length} appliance(s)`}, keeping ${ctx.options.minHealthyPercentage}% of the group healthy`
      : undefined
    return {resources, missing: [...differences(sizes(group, ctx.spec)), ...(replaces ? [`instance refresh: replace ${replaces}`] : [])], replaces}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).autoScalingGroup
    const template = required(ctx, 'launch-template').id
    if (found.resources.length) {
      await ctx.aws.autoscaling.send(new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: name, MinSize: ctx.spec.minSize, MaxSize: ctx.spec.maxSize, ...(ctx.spec.scaleOn === 'none' ? {DesiredCapacity: ctx.spec.desiredCapacity} : {}),
      }))
      if (found.replaces) await rollOut(ctx, name, template)
      return done(found.resources)
    }
    await ctx.aws.autoscaling.send(new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: {LaunchTemplateId: template, Version: '$Latest'},
      MinSize: ctx.spec.minSize,
      MaxSize: ctx.spec.maxSize,
      DesiredCapacity: ctx.spec.desiredCapacity,
      VPCZoneIdentifier: ctx.spec.applianceSubnets.join(','),
      TargetGroupARNs: [required(ctx, 'target-group').id],
      HealthCheckType: 'ELB',
      // First boot fetches and unpacks Node.js and gwlb (no compiling): well within this before ELB health counts.
      HealthCheckGracePeriod: 300,
      LifecycleHookSpecificationList: hookSpecifications(name),
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
    const [software, reports, {Activities = []}] = await Promise.all([
      softwareOf(scope, g.Instances ?? []),
      fleetReports(scope, (g.Instances ?? []).map((i) => i.InstanceId!)),
      scope.aws.autoscaling.send(new DescribeScalingActivitiesCommand({AutoScalingGroupName: g.AutoScalingGroupName, MaxRecords: 10})),
    ])
    const activities = Activities.map((a) => ({at: a.StartTime?.toISOString() ?? '', status: a.StatusCode ?? '', description: a.Description ?? '', ...(a.StatusMessage ? {message: a.StatusMessage} : {})}))
    // What failed in the last hour: a launch the account's capacity or quota refused, a refresh that stopped.
    const failed = activities.filter((a) => ['Failed', 'Cancelled'].includes(a.status) && Date.now() - Date.parse(a.at) < 3600_000)
    const instances = (g.Instances ?? []).map((i) => ({
      id: i.InstanceId!, az: i.AvailabilityZone!, lifecycle: i.LifecycleState!, health: i.HealthStatus!, software: software(i.LaunchTemplate?.Version),
    }))
    const inService = instances.filter((i) => i.lifecycle === 'InService').length
    const counts = new Map<string, number>()
    for (const i of instances) counts.set(i.az, (counts.get(i.az) ?? 0) + 1)
    const byAz = [...counts].map(([az, n]) => `${az}: ${n}`).join(', ')
    return {
      problems: [
        ...(inService < g.DesiredCapacity! ? [`${inService} of ${g.DesiredCapacity} appliances in service`] : []),
        ...(scope.settings ? drift(scope, sizes(g, scope.settings)) : []),
        ...reportProblems(reports),
        ...failed.map((a) => `scaling activity ${a.status.toLowerCase()} at ${a.at}: ${a.description}${a.message ? ` — ${a.message}` : ''}`),
      ],
      hints: [],
      detail: {name: g.AutoScalingGroupName!, desired: g.DesiredCapacity!, min: g.MinSize!, max: g.MaxSize!, inService, instances: instances.map((i) => ({...i, report: reports.get(i.id)})), activities: activities.slice(0, 5)} satisfies FleetDetail,
      summary: `Auto Scaling group ${g.AutoScalingGroupName}: ${inService}/${g.DesiredCapacity} in service (min ${g.MinSize}, max ${g.MaxSize})${byAz ? `, ${byAz}` : ''}`,
      table: instances.length
        ? [['instance', 'AZ', 'lifecycle', 'health', 'software', 'data plane', 'inspection', 'policy', 'reported'], ...instances.map((i) => [i.id, i.az, i.lifecycle, i.health, i.software ?? '', ...reportCells(reports.get(i.id))])]
        : undefined,
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
