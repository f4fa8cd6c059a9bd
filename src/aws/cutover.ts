import {DescribeInstancesCommand} from '../sdk/ec2.js'
import {DescribeTargetHealthCommand} from '../sdk/elastic-load-balancing-v2.js'
import {UserError} from '../errors.js'
import type {AwsClients} from './clients.js'
import {waitFor} from './wait.js'

/**
 * When the workload's routes may go to the endpoints: once every AZ a routed table uses has a healthy
 * appliance (`each-az`), once any appliance is healthy (`any`), or at once (`none`, no gate).
 */
export const CUTOVER_GATES = ['each-az', 'any', 'none'] as const
export type CutoverGate = (typeof CUTOVER_GATES)[number]
export const DEFAULT_CUTOVER_GATE: CutoverGate = 'each-az'

export interface TargetHealth {
  instance: string
  az?: string
  state: string
  /** AWS's reason and description, e.g. "Target.FailedHealthChecks: Health checks failed". */
  reason?: string
}

export interface AzHealth {
  az: string
  healthy: number
  total: number
}

/** The target group's targets with their AZ (for instance targets AWS names it only through the instance). */
export async function targetHealth(aws: AwsClients, targetGroupArn: string): Promise<TargetHealth[]> {
  const {TargetHealthDescriptions = []} = await aws.elb.send(new DescribeTargetHealthCommand({TargetGroupArn: targetGroupArn}))
  const ids = TargetHealthDescriptions.map((t) => t.Target!.Id!)
  const {Reservations = []} = ids.length ? await aws.ec2.send(new DescribeInstancesCommand({InstanceIds: ids})) : {}
  const azOf = new Map(Reservations.flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId!, i.Placement?.AvailabilityZone]))
  return TargetHealthDescriptions.map((t) => ({
    instance: t.Target!.Id!,
    az: t.Target?.AvailabilityZone ?? azOf.get(t.Target!.Id!),
    state: t.TargetHealth?.State ?? 'unknown',
    reason: [t.TargetHealth?.Reason, t.TargetHealth?.Description].filter(Boolean).join(': ') || undefined,
  }))
}

export function healthByAz(targets: TargetHealth[], azs: string[]): AzHealth[] {
  return azs.map((az) => {
    const here = targets.filter((t) => t.az === az)
    return {az, healthy: here.filter((t) => t.state === 'healthy').length, total: here.length}
  })
}

export const isOpen = (gate: CutoverGate, byAz: AzHealth[]) =>
  gate === 'none' || (gate === 'any' ? byAz.some((z) => z.healthy > 0) : byAz.every((z) => z.healthy > 0))

export const describeHealth = (byAz: AzHealth[]) => byAz.map((z) => `${z.az} ${z.healthy}/${z.total} healthy`).join(', ')

/** What the plan says of the gate: what the routes wait for. */
export function gateWords(gate: CutoverGate, azs: string[]): string {
  if (gate === 'none') return 'at once, without waiting for healthy appliances (--cutover-gate none)'
  return gate === 'any' ? 'once one appliance is healthy (--cutover-gate any)' : `once appliances are healthy in ${azs.join(' and ')}`
}

/**
 * Waits until the gate opens. On timeout nothing has been routed: the error names each unhealthy target with
 * AWS's reason, and a re-run resumes the wait.
 */
export async function awaitHealthyTargets(
  aws: AwsClients, targetGroupArn: string, azs: string[], gate: CutoverGate,
  timing: {pollMs: number; timeoutMs: number}, progress: (message: string) => void,
): Promise<AzHealth[]> {
  let last: TargetHealth[] = []
  const check = async () => {
    last = await targetHealth(aws, targetGroupArn)
    const byAz = healthByAz(last, azs)
    progress(`waiting for healthy appliances: ${describeHealth(byAz)}`)
    return isOpen(gate, byAz) ? byAz : undefined
  }
  try {
    return await waitFor(check, {what: 'healthy appliances', timeoutMs: timing.timeoutMs, intervalMs: timing.pollMs})
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('timed out')) throw error
    const unhealthy = last.filter((t) => t.state !== 'healthy').map((t) => `${t.instance} (${t.az ?? '?'}) ${t.state}${t.reason ? `: ${t.reason}` : ''}`)
    throw new UserError(
      `no route was changed: after ${Math.round(timing.timeoutMs / 1000)}s ${describeHealth(healthByAz(last, azs))}${unhealthy.length ? `; ${unhealthy.join('; ')}` : '; no appliance registered'}`,
      'see gwlb status for where to look, fix the appliances, then re-run the same gwlb init to resume the wait',
      'unhealthy',
    )
  }
}
