import type {ScalingPolicy, TargetTrackingConfiguration} from '@aws-sdk/client-auto-scaling'
import {DeletePolicyCommand, DescribePoliciesCommand, PutScalingPolicyCommand} from '../../sdk/auto-scaling.js'
import {SCALING_METRIC, scalingDimensions} from '../../scaling-metric.js'
import type {DeploymentSpec} from '../spec.js'
import {parseScaleOn, type ScaleOn} from '../scale-on.js'
import {differences, done, drift, names, type Scope, type Step} from '../step.js'

/**
 * The fleet follows its traffic: a target-tracking policy on the Auto Scaling group, on the appliances' CPU, the
 * bytes they receive (EC2's NetworkIn per appliance, per 5-minute period of basic monitoring), or the packets a
 * second they count themselves (src/scaling-metric.ts). `--scale-on
 * none` (the default) leaves the group at its desired capacity, and a policy made before is removed.
 */
const POLICY_TYPE = {cpu: 'ASGAverageCPUUtilization', network: 'ASGAverageNetworkIn'} as const
const PERIOD_SECONDS = 300

/** The policy's target in its metric's unit: percent, bytes a period for Mbit/s, or packets a second. */
const targetValue = (s: Exclude<ScaleOn, 'none'>) => (s.metric === 'network' ? (s.target * 1e6 / 8) * PERIOD_SECONDS : s.target)

/** What the policy tracks: one of AWS's group metrics, or the appliances' own packets per second. */
function metricOf(s: Exclude<ScaleOn, 'none'>, group: string): TargetTrackingConfiguration {
  if (s.metric !== 'packets') return {PredefinedMetricSpecification: {PredefinedMetricType: POLICY_TYPE[s.metric]}, TargetValue: targetValue(s)}
  return {CustomizedMetricSpecification: {...SCALING_METRIC, Dimensions: scalingDimensions(group), Statistic: 'Average'}, TargetValue: targetValue(s)}
}

/** A policy as words for the plan and drift: "cpu:60", "network:500", "packets:50000", none. */
function words(policy: ScalingPolicy | undefined): string {
  const config = policy?.TargetTrackingConfiguration
  if (config?.CustomizedMetricSpecification?.MetricName === SCALING_METRIC.MetricName) return `packets:${config.TargetValue}`
  const type = config?.PredefinedMetricSpecification?.PredefinedMetricType
  if (!config || !type) return 'none'
  if (type === POLICY_TYPE.cpu) return `cpu:${config.TargetValue}`
  if (type === POLICY_TYPE.network) return `network:${Math.round((config.TargetValue! / PERIOD_SECONDS) * 8 / 1e6)}`
  return type
}

const policyName = (deployment: string, region: string) => `${names({name: deployment}, region).autoScalingGroup}-target-tracking`

async function thePolicy(scope: Pick<Scope, 'aws' | 'deployment' | 'region'>): Promise<ScalingPolicy | undefined> {
  const group = names({name: scope.deployment}, scope.region).autoScalingGroup
  const {ScalingPolicies = []} = await scope.aws.autoscaling.send(new DescribePoliciesCommand({AutoScalingGroupName: group, PolicyNames: [policyName(scope.deployment, scope.region)]}))
  return ScalingPolicies[0]
}

const resourceOf = (p: ScalingPolicy) => ({type: 'scaling-policy', id: p.PolicyARN ?? p.PolicyName!, name: p.PolicyName!, detail: words(p)})
const scopeOfSpec = (spec: DeploymentSpec, aws: Scope['aws'], region: string) => ({aws, deployment: spec.name, region})

export const scalingPolicy: Step = {
  id: 'scaling-policy',
  title: 'Scaling policy (target tracking)',
  needs: ['auto-scaling-group'],
  // Also with none: a policy made before is to be removed.
  enabled: () => true,
  expected: (spec) => (spec.scaleOn === 'none' ? 0 : 1),

  async find(ctx) {
    const found = await thePolicy(scopeOfSpec(ctx.spec, ctx.aws, ctx.topology.region))
    if (!found) return {resources: [], missing: ctx.spec.scaleOn === 'none' ? [] : [`target tracking on ${ctx.spec.scaleOn}`]}
    return {resources: [resourceOf(found)], missing: differences([['scaling', words(found), ctx.spec.scaleOn]])}
  },

  async create(ctx, found) {
    const scaleOn = parseScaleOn(ctx.spec.scaleOn)!
    const group = names(ctx.spec, ctx.topology.region).autoScalingGroup
    const PolicyName = policyName(ctx.spec.name, ctx.topology.region)
    if (scaleOn === 'none') {
      if (found.resources.length) await ctx.aws.autoscaling.send(new DeletePolicyCommand({AutoScalingGroupName: group, PolicyName}))
      return done([])
    }
    await ctx.aws.autoscaling.send(new PutScalingPolicyCommand({
      AutoScalingGroupName: group, PolicyName, PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: metricOf(scaleOn, group),
    }))
    return done([resourceOf((await thePolicy(scopeOfSpec(ctx.spec, ctx.aws, ctx.topology.region)))!)])
  },

  async owned(scope) {
    const found = await thePolicy(scope)
    return found ? [resourceOf(found)] : []
  },

  // The group takes its policies with it; one left without its group is gone with it too.
  async remove(scope, owned) {
    const group = names({name: scope.deployment}, scope.region).autoScalingGroup
    for (const r of owned) await scope.aws.autoscaling.send(new DeletePolicyCommand({AutoScalingGroupName: group, PolicyName: r.name})).catch(() => undefined)
  },

  async report(scope, found) {
    return {
      problems: scope.settings ? drift(scope, [['scaling', found[0]?.detail ?? 'none', scope.settings.scaleOn]]) : [],
      hints: [],
      summary: `Scaling: target tracking on ${found[0]?.detail}`,
      detail: {policy: found[0]?.name, scaleOn: found[0]?.detail},
    }
  },
}
