import {GetObjectCommand} from '../sdk/s3.js'
import {reportKey, REPORT_SECONDS, type FleetReport} from '../fleet-report.js'
import {shortVersion} from '../policy.js'
import type {Scope} from './step.js'
import {bucketName} from './steps/bucket.js'
import {errorCode} from './wait.js'

/** What each of these instances last said of itself (gwlb appliance report), by instance id; none if it said nothing. */
export async function fleetReports(scope: Scope, instanceIds: string[]): Promise<Map<string, FleetReport>> {
  if (instanceIds.length === 0) return new Map()
  const bucket = await bucketName(scope)
  const ExpectedBucketOwner = await scope.aws.account()
  const read = await Promise.all(instanceIds.map(async (id) => {
    const got = await scope.aws.s3.send(new GetObjectCommand({Bucket: bucket, Key: reportKey(id), ExpectedBucketOwner})).catch((error: unknown) => {
      if (['NoSuchKey', 'NoSuchBucket'].includes(errorCode(error) ?? '')) return undefined
      throw error
    })
    return got ? [id, JSON.parse(await got.Body!.transformToString()) as FleetReport] as const : undefined
  }))
  return new Map(read.filter((r) => r !== undefined))
}

/** A report older than three of its periods: the appliance (or its timer) has stopped saying. */
export const staleReport = (r: FleetReport, now = Date.now()) => now - Date.parse(r.at) > 3 * REPORT_SECONDS * 1000

/** status's columns for an instance, from its report: data plane, inspection, policy, reported. */
export function reportCells(r: FleetReport | undefined, now = Date.now()): string[] {
  if (!r) return ['no report', '', '', '']
  const dataPlane = r.dataPlane ? `${r.dataPlane.status}, ${r.dataPlane.tunnels} tunnels, ${r.dataPlane.flows} flows` : 'not answering'
  const loaded = [...(r.engine?.rulesLoaded === undefined ? [] : [`${r.engine.rulesLoaded} rules`]), ...(r.engine?.rules ? [`yours ${shortVersion(r.engine.rules)}`] : [])]
  const engine = r.engine ? `; engine ${r.engine.state}${loaded.length ? ` (${loaded.join(', ')})` : ''}` : ''
  const seen = r.inspection && `${r.inspection.mode} ${r.inspection.state} (${r.inspection.packets} packets${r.inspection.queueDrops ? `, ${r.inspection.queueDrops} lost at full queues` : ''})`
  const inspection = seen ? `${seen}${engine}` : engine.slice(2)
  const age = Math.round((now - Date.parse(r.at)) / 1000)
  return [dataPlane, inspection, r.policy ? shortVersion(r.policy.sha256) : '', `${age} s ago${staleReport(r, now) ? ' (stale)' : ''}`]
}

/** What in the reports needs the operator: an engine that could not be installed or is down, a refused policy, silence. */
export function reportProblems(reports: Map<string, FleetReport>, now = Date.now()): string[] {
  return [...reports].flatMap(([id, r]) => [
    ...(r.engine?.state === 'not installed' ? [`${id}: its inspection engine could not be installed (see /var/log/gwlb-bootstrap.log on it)`] : []),
    ...(r.engine?.state === 'stopped' ? [`${id}: its inspection engine is stopped (journalctl -u gwlb-suricata on it)`] : []),
    ...(r.inspection?.state === 'bypassed' ? [`${id}: inspection bypassed — no engine on the hook, traffic ${r.inspection.mode === 'ips' ? 'flows uninspected or is refused, as --ids-fail says' : 'flows uninspected'}`] : []),
    ...(r.policy?.refused ? [`${id}: refused the last policy: ${r.policy.refused}`] : []),
    ...(staleReport(r, now) ? [`${id}: no report for ${Math.round((now - Date.parse(r.at)) / 1000)} s (gwlb-report.timer on it)`] : []),
  ])
}
