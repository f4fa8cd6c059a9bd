import type {FilteredLogEvent} from '@aws-sdk/client-cloudwatch-logs'
import {FilterLogEventsCommand} from '../sdk/cloudwatch-logs.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {UserError} from '../errors.js'
import {alertOf, type Alert} from '../eve.js'
import type {AwsClients} from './clients.js'

/**
 * The fleet's alerts, read from the deployment's CloudWatch Logs group: every appliance's stream at once
 * (FilterLogEvents interleaves them), oldest first, as `gwlb alerts` and `gwlb status` show them.
 */
export interface AlertsRead {
  alerts: Alert[]
  /** Stopped at the limit: there are more in the period. */
  more: boolean
}

/** "1h", "30m", "2d", "90s" as milliseconds. */
export function parseSince(value: string): number {
  const m = /^(\d+)([smhd])$/.exec(value)
  if (!m) throw new UserError(`--since ${value} is not a period`, 'write it like 30m, 1h or 2d', 'usage')
  return Number(m[1]) * {s: 1000, m: 60_000, h: 3600_000, d: 86_400_000}[m[2] as 's' | 'm' | 'h' | 'd']
}

const alertsOf = (events: FilteredLogEvent[]) => events.flatMap((e) => alertOf(e.message ?? '', e.logStreamName ?? '?') ?? [])

async function page(aws: AwsClients, group: string, startTime: number, nextToken?: string) {
  return aws.logs.send(new FilterLogEventsCommand({logGroupName: group, startTime, nextToken})).catch((error: unknown) => {
    if ((error as Error).name === 'ResourceNotFoundException')
      throw new UserError(`there is no log group ${group}`, 'the deployment has no inspection engine: gwlb init --ids suricata gives it one', 'not-found')
    throw error
  })
}

/** The alerts since `sinceMs` ago, up to `limit`, oldest first. */
export async function recentAlerts(aws: AwsClients, group: string, o: {sinceMs: number; limit?: number}): Promise<AlertsRead> {
  const limit = o.limit ?? 10_000
  const events: FilteredLogEvent[] = []
  let nextToken: string | undefined
  do {
    const got = await page(aws, group, Date.now() - o.sinceMs, nextToken)
    events.push(...(got.events ?? []))
    nextToken = got.nextToken
  } while (nextToken && events.length < limit)
  events.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0))
  const alerts = alertsOf(events)
  return {alerts: alerts.slice(0, limit), more: Boolean(nextToken) || alerts.length > limit}
}

/**
 * New alerts as they arrive, every `everyMs`, until the signal: each event once (asked again from the newest
 * time seen, whose events are remembered by id, because later ones may share that millisecond).
 */
export async function* followAlerts(aws: AwsClients, group: string, o: {sinceMs: number; everyMs?: number; signal: AbortSignal}): AsyncGenerator<Alert[]> {
  let from = Date.now() - o.sinceMs
  const seen = new Map<string, number>()
  while (!o.signal.aborted) {
    const fresh: FilteredLogEvent[] = []
    let nextToken: string | undefined
    do {
      const got = await page(aws, group, from, nextToken)
      fresh.push(...(got.events ?? []).filter((e) => !seen.has(e.eventId!)))
      nextToken = got.nextToken
    } while (nextToken)
    if (fresh.length) {
      fresh.sort((a, b) => a.timestamp! - b.timestamp!)
      from = fresh.at(-1)!.timestamp!
      for (const e of fresh) seen.set(e.eventId!, e.timestamp!)
      for (const [id, at] of seen) if (at < from) seen.delete(id)
      yield alertsOf(fresh)
    }
    await sleep(o.everyMs ?? 2000, undefined, {signal: o.signal}).catch(() => undefined)
  }
}
