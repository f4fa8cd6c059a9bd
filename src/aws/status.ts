import type {DeploymentSpec} from './spec.js'
import {initCommand, plainReport, type Resource, type Scope, type StepReport} from './step.js'
import {STEPS} from './steps/index.js'
import {settingsOf} from './steps/settings.js'
import {trafficStatus, type TrafficStatus} from './traffic.js'

export type Verdict = 'healthy' | 'degraded' | 'incomplete' | 'absent'

/** One step of the deployment as `status` found it. */
export interface StepStatus extends StepReport {
  id: string
  title: string
  /** How many resources the settings ask for (0: none of its own, or not asked for). */
  expected: number
  resources: Resource[]
}

export interface DeploymentStatus {
  deployment: string
  region: string
  verdict: Verdict
  /** What is unhealthy or pending (degraded), each with what to do where there is something to do. */
  problems: string[]
  /** Where to look for the likely causes of the problems. */
  hints: string[]
  /** Steps with fewer resources than the settings ask for (incomplete). */
  missing: string[]
  /** `gwlb init …` to finish an incomplete deployment (it takes the rest from the stored settings). */
  resume?: string
  settings?: DeploymentSpec
  /** Every step, in the order init makes them. */
  steps: StepStatus[]
  /** What the fleet carried in the last minutes (CloudWatch), where there is a GWLB. */
  traffic?: TrafficStatus
}

const LOST_SETTINGS = 'deployment settings (SSM parameter): re-run init with the original flags to restore them'

/**
 * What exists of a deployment and how it is doing, from describe/list/get calls only: each step finds its
 * resources and tells its own status, and a describe that several steps need is made once. The verdict is
 * `incomplete` if a step has fewer resources than the settings ask for, `degraded` if a step reports a
 * problem, else `healthy`.
 */
export async function deploymentStatus(scope: Scope): Promise<DeploymentStatus> {
  const run = {...scope, cache: new Map<string, Promise<unknown>>()}
  const settings = await settingsOf(run)
  const steps = await Promise.all(STEPS.map(async (step): Promise<StepStatus> => {
    const resources = await step.owned(run)
    const expected = settings && step.enabled(settings) ? (step.expected?.(settings) ?? 1) : 0
    // A step reports on what it found; what it did not find is `missing`, from what it expects.
    const report = resources.length || (step.reportsWhenNone && settings && step.enabled(settings)) ? await (step.report?.({...run, settings}, resources) ?? plainReport(step.title, resources)) : {problems: [], hints: []}
    // More than the settings ask for (a twin from an interrupted or concurrent run, a route made by hand):
    // traffic may take a way nobody planned. destroy removes them with the rest.
    const surplus = expected > 0 && resources.length > expected && !step.keepsHistory
      ? [`${step.title}: ${resources.length} where the settings ask for ${expected} (${resources.map((r) => r.id).join(', ')}); gwlb destroy removes them all`] : []
    return {id: step.id, title: step.title, expected, resources, ...report, problems: [...surplus, ...report.problems]}
  }))
  const status: DeploymentStatus = {
    deployment: run.deployment, region: run.region, verdict: 'healthy', settings, steps,
    problems: steps.flatMap((s) => s.problems),
    hints: steps.flatMap((s) => s.hints),
    missing: settings
      ? [...steps.filter((s) => s.resources.length < s.expected).map((s) => (s.resources.length ? `${s.title}: ${s.resources.length} of ${s.expected}` : s.title)),
        ...steps.flatMap((s) => (s.missing ?? []).map((m) => `${s.title}: ${m}`))]
      : [LOST_SETTINGS],
  }
  if (steps.every((s) => s.resources.length === 0)) return {...status, verdict: 'absent', missing: [], problems: [], hints: []}
  const traffic = await trafficStatus({...run, settings})
  if (traffic) Object.assign(status, {traffic, problems: [...status.problems, ...traffic.problems]})
  status.verdict = status.missing.length ? 'incomplete' : status.problems.length ? 'degraded' : 'healthy'
  if (status.verdict === 'incomplete') status.resume = initCommand(run)
  return status
}
