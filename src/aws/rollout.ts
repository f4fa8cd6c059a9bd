import type {InstanceRefresh} from '@aws-sdk/client-auto-scaling'
import {DescribeInstanceRefreshesCommand, StartInstanceRefreshCommand} from '../sdk/auto-scaling.js'
import {UserError} from '../errors.js'
import type {AwsClients} from './clients.js'
import type {StepContext} from './step.js'
import {errorCode, waitFor} from './wait.js'

const RUNNING = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking'])

/** The group's instance refresh that is still going, if any (a re-run resumes waiting for it). */
export async function runningRefresh(aws: AwsClients, group: string): Promise<InstanceRefresh | undefined> {
  const {InstanceRefreshes = []} = await aws.autoscaling.send(new DescribeInstanceRefreshesCommand({AutoScalingGroupName: group, MaxRecords: 5}))
  return InstanceRefreshes.find((r) => RUNNING.has(r.Status ?? ''))
}

const progressOf = (r: InstanceRefresh) => `instance refresh ${r.Status} ${r.PercentageComplete ?? 0}%, ${r.InstancesToUpdate ?? '?'} appliance(s) still to replace`

/**
 * Replaces the appliances that run an older launch-template version, a few at a time: an instance refresh
 * that keeps `minHealthyPercentage` of the group healthy (100: a new appliance is in service, healthy in the
 * target group, before an old one is terminated) and skips appliances already on the latest version.
 */
export async function rollOut(ctx: StepContext, group: string, templateId: string): Promise<void> {
  let refresh = await runningRefresh(ctx.aws, group)
  if (!refresh) {
    const min = ctx.options.minHealthyPercentage
    await ctx.aws.autoscaling.send(new StartInstanceRefreshCommand({
      AutoScalingGroupName: group,
      Strategy: 'Rolling',
      DesiredConfiguration: {LaunchTemplate: {LaunchTemplateId: templateId, Version: '$Latest'}},
      Preferences: {MinHealthyPercentage: min, MaxHealthyPercentage: Math.min(min + 100, 200), SkipMatching: true, InstanceWarmup: 60},
    })).catch((error: unknown) => {
      // Another refresh started meanwhile (a console user): wait for that one.
      if (errorCode(error) !== 'InstanceRefreshInProgress') throw error
    })
  }
  refresh = await waitFor(async () => {
    const {InstanceRefreshes = []} = await ctx.aws.autoscaling.send(new DescribeInstanceRefreshesCommand({AutoScalingGroupName: group, MaxRecords: 1}))
    const latest = InstanceRefreshes[0]
    if (!latest) return undefined
    ctx.progress(progressOf(latest))
    return RUNNING.has(latest.Status ?? '') ? undefined : latest
  }, {what: `the instance refresh of ${group} (it goes on without this run)`, timeoutMs: ctx.timing.timeoutMs, intervalMs: ctx.timing.pollMs})
  if (refresh.Status !== 'Successful')
    throw new UserError(`the instance refresh of ${group} ended ${refresh.Status}${refresh.StatusReason ? `: ${refresh.StatusReason}` : ''}`,
      'see gwlb status for the appliances that did not become healthy; fix, then re-run the same gwlb init', 'unhealthy')
}
