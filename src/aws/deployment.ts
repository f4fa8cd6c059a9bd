import {Listr, type ListrRendererValue} from 'listr2'
import type {AwsClients} from './clients.js'
import {DEFAULT_CUTOVER_GATE} from './cutover.js'
import {validateSpec, type DeploymentSpec} from './spec.js'
import {DEFAULT_TIMING, type ApplyOptions, type Resource, type Step, type StepContext, type Timing} from './step.js'
import {STEPS} from './steps/index.js'
import {readSettings} from './steps/settings.js'
import {refuseFixed, settingChanges} from './changes.js'
import {discoverTopology, type Topology} from './topology.js'

export const DEFAULT_APPLY_OPTIONS: ApplyOptions = {cutoverGate: DEFAULT_CUTOVER_GATE, minHealthyPercentage: 100}

export interface PlanEntry {
  id: string
  title: string
  resources: Resource[]
  missing: string[]
  replaces?: string
}

export interface Plan {
  deployment: string
  region: string
  entries: PlanEntry[]
  warnings: string[]
}

export type Outcome = 'found' | 'created' | 'changed'

/** What `init` answers, applied or not (--dry-run): the plan it found, then what it made of it. */
export interface InitResult {
  deployment: string
  region: string
  dryRun: boolean
  /** What existed and what was missing when init looked. */
  plan: PlanEntry[]
  /** Each step's outcome (empty on a dry run): all found, made anew, or changed in place; `done` says what it did. */
  steps: (PlanEntry & {outcome: Outcome; done: string[]})[]
  created: Resource[]
  found: Resource[]
  elasticIps: string[]
  warnings: string[]
  next: string
}

/** Validates the spec against AWS (IDs, AZs, VPC) and builds the context every step works in. */
export async function prepare(aws: AwsClients, spec: DeploymentSpec, timing: Timing = DEFAULT_TIMING, options: ApplyOptions = DEFAULT_APPLY_OPTIONS): Promise<StepContext> {
  validateSpec(spec)
  // What cannot change in place is the first thing said: the rest of the checks are about the new shape.
  const stored = await readSettings(aws, spec.name)
  if (stored) refuseFixed(settingChanges(stored, spec), stored)
  const topology: Topology = await discoverTopology(aws, spec)
  return {aws, spec, topology, timing, options, states: new Map(), progress: () => undefined}
}

const enabledSteps = (spec: DeploymentSpec) => STEPS.filter((s) => s.enabled(spec))

/** What exists and what would be created, changing nothing (`init --dry-run`). */
export async function planDeployment(ctx: StepContext): Promise<Plan> {
  const entries: PlanEntry[] = []
  for (const step of enabledSteps(ctx.spec)) {
    const state = await step.find(ctx)
    ctx.states.set(step.id, state)
    entries.push({id: step.id, title: step.title, ...state})
  }
  return {deployment: ctx.spec.name, region: ctx.topology.region, entries, warnings: ctx.topology.warnings}
}

function deferred() {
  let resolve!: () => void
  let reject!: (e: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => undefined) // a failed step is reported by its own task, not as an unhandled rejection
  return {promise, resolve, reject}
}

/**
 * Finds every step's resources again and creates what is missing, in dependency order, independent steps
 * at the same time, as a listr2 task list. Safe to re-run after any failure: found resources are re-used.
 */
export async function applyDeployment(ctx: StepContext, renderer: ListrRendererValue, plan: PlanEntry[] = []): Promise<InitResult> {
  const steps = enabledSteps(ctx.spec)
  const enabled = new Set(steps.map((s) => s.id))
  const finished = new Map(steps.map((s) => [s.id, deferred()]))
  const outcomes = new Map<string, Outcome>()
  const done = new Map<string, string[]>()

  const failures: unknown[] = []
  const run = async (step: Step, output: (message: string) => void, skip: (why: string) => void) => {
    const gate = finished.get(step.id)!
    const needs = step.needs.filter((id) => enabled.has(id))
    try {
      await Promise.all(needs.map((id) => finished.get(id)!.promise))
    } catch {
      gate.reject(new Error(`${step.id} not started`))
      skip(`${step.title}: not started, it needs ${needs.join(', ')}`)
      return undefined
    }
    try {
      const stepCtx: StepContext = {...ctx, progress: output}
      const before = await step.find(stepCtx)
      const complete = before.missing.length === 0
      ctx.states.set(step.id, complete ? before : await step.create(stepCtx, before))
      // What already had resources was changed (or completed) in place; the rest was made anew.
      const outcome = complete ? 'found' : before.resources.length ? 'changed' : 'created'
      outcomes.set(step.id, outcome)
      done.set(step.id, before.missing)
      gate.resolve()
      if (complete) return before.resources.length ? 'found' : 'nothing asked for'
      return `${outcome} ${before.missing.length === 1 ? before.missing[0] : `${before.missing.length} items`}`
    } catch (error) {
      failures.push(error)
      gate.reject(error)
      throw error
    }
  }

  const started = Date.now()
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`
  // Every step runs to its end (or is skipped when what it needs failed) before init reports the first
  // failure: no creation is left in flight, and a re-run resumes from a settled state.
  await new Listr(
    steps.map((step) => ({
      title: step.title,
      task: async (_: unknown, task: {title: string; output: string | undefined; skip(message: string): void}) => {
        const summary = await run(step, (message) => (task.output = `${message} (${elapsed()})`), (why) => task.skip(why))
        if (summary) task.title = `${step.title}: ${summary}`
      },
    })),
    {concurrent: true, exitOnError: false, renderer, collectErrors: false, rendererOptions: {collapseErrors: false}, registerSignalListeners: false},
  ).run()
  if (failures.length > 0) throw failures[0]

  const stepsOut = steps.map((s) => ({id: s.id, title: s.title, outcome: outcomes.get(s.id)!, done: done.get(s.id)!, ...ctx.states.get(s.id)!}))
  const all = (outcome: Outcome) => stepsOut.filter((s) => s.outcome === outcome).flatMap((s) => s.resources)
  return {
    deployment: ctx.spec.name,
    region: ctx.topology.region,
    steps: stepsOut,
    created: all('created'),
    found: all('found'),
    elasticIps: stepsOut.flatMap((s) => s.resources).filter((r) => r.type === 'elastic-ip').map((r) => r.detail!),
    warnings: ctx.topology.warnings,
    next: `gwlb status --name ${ctx.spec.name} --region ${ctx.topology.region}`,
    dryRun: false,
    plan,
  }
}

/** A dry run's answer, in the shape of an applied one: the plan, and nothing made of it. */
export const dryRunResult = (plan: Plan): InitResult => ({
  deployment: plan.deployment, region: plan.region, dryRun: true, plan: plan.entries, steps: [], created: [], found: [], elasticIps: [],
  warnings: plan.warnings, next: 'the same gwlb init without --dry-run',
})
