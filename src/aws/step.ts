import type {AwsClients} from './clients.js'
import type {CutoverGate} from './cutover.js'
import type {DeploymentSpec} from './spec.js'
import type {Checked} from './staged-file.js'
import {subnetsOf, type Topology} from './topology.js'

/** One AWS resource a step found or made. */
export interface Resource {
  type: string
  id: string
  name?: string
  /** What an operator wants to see beside the id (an Elastic IP, an AZ, a state). */
  detail?: string
  /** Availability Zone, for resources there is one of per AZ. */
  az?: string
  /** A route: the target destroy gives it back to, or '' where init made it (destroy deletes it). */
  before?: string
}

/** What exists of a step's resources, and what is still to be made (in words, for the plan). */
export interface StepState {
  resources: Resource[]
  missing: string[]
  /** What of the running fleet the create would replace (asked for with a yes before it starts). */
  replaces?: string
}

/** For each value that differs from the one asked for: "health port 80 → 8080". */
export function differences(pairs: [label: string, actual: unknown, wanted: unknown][]): string[] {
  return pairs.filter(([, actual, wanted]) => String(actual ?? '') !== String(wanted ?? '')).map(([label, actual, wanted]) => `${label} ${actual ?? 'none'} → ${wanted ?? 'none'}`)
}

/** The command that applies a deployment's stored settings again (nothing else needed: they are stored). */
export const initCommand = (scope: {deployment: string; region: string}) => `gwlb init --yes --name ${scope.deployment} --region ${scope.region}`

/** The same, for `status`: how what exists departs from the settings stored for the deployment. */
export const drift = (scope: {deployment: string; region: string}, pairs: [label: string, actual: unknown, wanted: unknown][]) =>
  differences(pairs).map((d) => `drift from the settings: ${d} (${initCommand(scope)} applies them)`)

export interface Timing {
  /** How often to poll while waiting for AWS. */
  pollMs: number
  /** How long a single wait may take before init gives up (a re-run resumes). */
  timeoutMs: number
}

export const DEFAULT_TIMING: Timing = {pollMs: 5000, timeoutMs: 15 * 60_000}

/** How init applies a plan: the gates on what touches traffic. */
export interface ApplyOptions {
  /** What the workload routes wait for before they go to the endpoints. */
  cutoverGate: CutoverGate
  /** An instance refresh keeps at least this share of the fleet healthy (100: a new appliance before an old one goes). */
  minHealthyPercentage: number
  /** Files init was given to stage for the fleet (--policy, --ids-rules), already checked. */
  files?: Checked<object>[]
}

export interface StepContext {
  aws: AwsClients
  spec: DeploymentSpec
  topology: Topology
  timing: Timing
  options: ApplyOptions
  /** States of the steps already looked at, by step id. */
  states: Map<string, StepState>
  /** Shows progress of a long step (e.g. "waiting for active, 40s"). */
  progress(message: string): void
}

/** What status and destroy work with: a deployment known only by its name (its resources are found by tag). */
export interface Scope {
  aws: AwsClients
  deployment: string
  region: string
  timing: Timing
  progress(message: string): void
  /** Within one `status` run: describe answers shared by the steps that need them (see remember()). */
  cache?: Map<string, Promise<unknown>>
}

/** A step's context seen as a scope: for the read-only calls that status and destroy share with init. */
export const scopeOf = (ctx: StepContext): Scope => ({aws: ctx.aws, deployment: ctx.spec.name, region: ctx.topology.region, timing: ctx.timing, progress: ctx.progress})

/** What `status` works with: the scope, and the settings init was given (absent if they are lost). */
export interface StatusScope extends Scope {
  settings?: DeploymentSpec
}

/** A step's part of `gwlb status`, read with describe/list/get calls only. */
export interface StepReport {
  /** What is unhealthy or pending, each with what to do where there is something to do. */
  problems: string[]
  /** Where to look for the likely causes of those problems. */
  hints: string[]
  /** What is missing that counting its resources does not show (a way to S3 through anybody's endpoint). */
  missing?: string[]
  /** What --json shows of it (states, health, addresses). */
  detail?: unknown
  /** One line for people (what it is and how it is). */
  summary?: string
  /** Rows under that line, the first one the header. */
  table?: string[][]
}

/** Reads once per status run, however many steps ask (endpoints, NAT gateways, the group...); uncached elsewhere. */
export function remember<T>(scope: {cache?: Map<string, Promise<unknown>>}, key: string, read: () => Promise<T>): Promise<T> {
  if (!scope.cache) return read()
  if (!scope.cache.has(key)) scope.cache.set(key, read())
  return scope.cache.get(key) as Promise<T>
}

/** A VPC's subnets and route tables within a status run, read once for every step that checks routes or address blocks. */
export const subnetsRemembered = (scope: Scope, vpcId: string) => remember(scope, `subnets ${vpcId}`, () => subnetsOf(scope.aws, vpcId))

/** The status of a step with nothing to check beyond its resources: one line naming them. */
export function plainReport(title: string, found: Resource[]): StepReport {
  return {problems: [], hints: [], summary: found.length ? `${title}: ${found.map((r) => `${r.name ?? r.id}${r.detail ? ` (${r.detail})` : ''}`).join(', ')}` : undefined}
}

/**
 * One part of a deployment: how to find it (by the deployment's tags or names), and how to make what is
 * missing of it. Every create is written to finish a half-done earlier attempt, so re-running resumes.
 */
export interface Step {
  id: string
  title: string
  /** Steps whose resources this one builds on. */
  needs: string[]
  /** Whether the spec asks for this step at all (e.g. NAT gateways unless --no-nat-gateways). */
  enabled(spec: DeploymentSpec): boolean
  find(ctx: StepContext): Promise<StepState>
  create(ctx: StepContext, found: StepState): Promise<StepState>
  /** What of this step exists for the deployment, found by tag or name alone (read-only). */
  owned(scope: Scope): Promise<Resource[]>
  /** Removes what owned() found and waits until AWS lets the next step go; "not found" is success. */
  remove(scope: Scope, owned: Resource[]): Promise<void>
  /** How many resources the settings ask of this step, for `status` to call fewer missing (default 1). */
  expected?(spec: DeploymentSpec): number
  /** Older resources stay beside the current ones (staged software versions): more than expected is no fault. */
  keepsHistory?: boolean
  /** This step's part of `status`, given what owned() found (default: plainReport). */
  report?(scope: StatusScope, found: Resource[]): Promise<StepReport>
  /** Its report runs even when it owns nothing: what it checks may be anybody's (the appliance tables' way to S3). */
  reportsWhenNone?: boolean
}

/** For calls whose "not found" answer means there is nothing to do. */
export function unlessNotFound(...codes: string[]): (error: unknown) => undefined {
  return (error) => {
    const code = (error as {name?: string})?.name ?? ''
    if (codes.includes(code) || /NotFound|NoSuchEntity/.test(code)) return undefined
    throw error
  }
}

export const done = (resources: Resource[]): StepState => ({resources, missing: []})

/** The id of the first resource of another step, if it exists yet. */
export function resourceOf(ctx: StepContext, stepId: string, type?: string): Resource | undefined {
  return ctx.states.get(stepId)?.resources.find((r) => !type || r.type === type)
}

/** Like resourceOf, for a create that cannot go on without it (the dependency order guarantees it). */
export function required(ctx: StepContext, stepId: string, type?: string): Resource {
  const r = resourceOf(ctx, stepId, type)
  if (!r) throw new Error(`internal: ${stepId} has no ${type ?? 'resource'} yet`)
  return r
}

/** Resource names: one scheme, so that find and create agree and two deployments never collide. */
export const names = (spec: {name: string}, region: string) => ({
  securityGroup: `gwlb-${spec.name}-appliances`,
  role: `gwlb-${spec.name}-${region}`,
  targetGroup: `gwlb-${spec.name}`,
  loadBalancer: `gwlb-${spec.name}`,
  launchTemplate: `gwlb-${spec.name}`,
  autoScalingGroup: `gwlb-${spec.name}`,
  endpoint: (az: string) => `gwlb-${spec.name}-${az}`,
  nat: (az: string) => `gwlb-${spec.name}-nat-${az}`,
  s3Endpoint: `gwlb-${spec.name}-s3`,
  /** Bucket names are global: the account and region make this deployment's its own. */
  bucket: (account: string) => `gwlb-${spec.name}-${account}-${region}`,
})
