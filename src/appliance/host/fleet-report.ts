import {PutObjectCommand} from '../../sdk/s3.js'
import {existsSync} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {reportKey, type FleetReport} from '../../fleet-report.js'
import {SCALING_METRIC, scalingDimensions} from '../../scaling-metric.js'
import {CloudWatchClient, PutMetricDataCommand} from '../../sdk/cloudwatch.js'
import type {ShipperPosition} from '../alerts/shipper.js'
import type {HealthReport} from '../health/report.js'
import {bucketClient, sha256Of} from '../staged/sync.js'
import {engineCommand} from './engine-control.js'
import {instanceIdentity} from './imds.js'
import {readJson, replaceWhole, runTool} from './system.js'

/** `gwlb appliance report`: where to look on this instance, and where to write. */
export interface ReportOptions {
  bucket: string
  region: string
  endpoint?: string
  /** The data plane's report (its --metrics-listen, /json). */
  metrics: string
  /** With an engine: its control socket, the operator's rules file, the shipper's state and Suricata's eve.json. */
  engine?: {socket: string; rules: string; shipperState: string; eve: string}
  /** Its packets a second for the group's target tracking (src/scaling-metric.ts), and where the last count is kept. */
  scalingMetric?: {group: string; state: string}
}

/** The data plane's own report (its --metrics-listen, /json); undefined if it does not answer. */
export const dataPlaneReport = (url: string) =>
  fetch(`${url}/json`, {signal: AbortSignal.timeout(2000)}).then((r) => r.json() as Promise<HealthReport>, () => undefined)

async function dataPlane(url: string): Promise<Pick<FleetReport, 'dataPlane' | 'policy' | 'inspection'>> {
  const health = await dataPlaneReport(url)
  if (!health) return {}
  return {
    dataPlane: {status: health.status, datapath: health.datapath, tunnels: health.tunnels.length, flows: health.flows, packetsIn: health.traffic.packetsIn + health.kernelTraffic.packetsIn},
    ...(health.policy ? {policy: {sha256: health.policy.sha256, ...(health.policy.refused ? {refused: health.policy.refused.message} : {})}} : {}),
    ...(health.inspection ? {inspection: {mode: health.inspection.mode, state: health.inspection.state, packets: health.inspection.packets, queueDrops: health.inspection.queueDrops}} : {}),
  }
}

async function engine(o: NonNullable<ReportOptions['engine']>): Promise<Pick<FleetReport, 'engine' | 'alerts'>> {
  const rulesText = await readFile(o.rules).catch(() => undefined)
  const rules = rulesText && sha256Of(rulesText)
  const stats = existsSync(o.socket) ? await engineCommand(o.socket, 'ruleset-stats', 5000).catch(() => undefined) : undefined
  const installed = stats || (await runTool('suricata', ['-V'])).code === 0
  const position = await readJson<ShipperPosition>(o.shipperState)
  const size = (await stat(o.eve).catch(() => undefined))?.size ?? 0
  return {
    engine: {
      state: stats?.return === 'OK' ? 'running' : installed ? 'stopped' : 'not installed',
      ...(stats?.return === 'OK' ? {rulesLoaded: (stats.message as {rules_loaded: number}[]).reduce((n, s) => n + s.rules_loaded, 0)} : {}),
      ...(rules ? {rules} : {}),
    },
    ...(position ? {alerts: {shipped: position.shipped, backlogBytes: Math.max(0, size - position.offset), ...(position.at ? {at: position.at} : {})}} : {}),
  }
}

/**
 * The GENEVE packets a second since the last report, published as the group's scaling metric: nothing the first
 * time (no count to go from) or without a data plane; a count that went down is a restarted data plane.
 */
async function publishRate(o: ReportOptions, packetsIn: number | undefined): Promise<number | undefined> {
  if (!o.scalingMetric || packetsIn === undefined) return undefined
  const now = Date.now()
  const last = await readJson<{at: number; packetsIn: number}>(o.scalingMetric.state)
  await replaceWhole(o.scalingMetric.state, JSON.stringify({at: now, packetsIn}))
  if (!last || now <= last.at) return undefined
  const rate = Math.round((packetsIn >= last.packetsIn ? packetsIn - last.packetsIn : packetsIn) / ((now - last.at) / 1000))
  const cloudwatch = new CloudWatchClient({region: o.region, ...(o.endpoint ? {endpoint: o.endpoint} : {})})
  await cloudwatch.send(new PutMetricDataCommand({Namespace: SCALING_METRIC.Namespace, MetricData: [{
    MetricName: SCALING_METRIC.MetricName, Unit: SCALING_METRIC.Unit, Value: rate, Timestamp: new Date(now), Dimensions: scalingDimensions(o.scalingMetric.group),
  }]}))
  cloudwatch.destroy()
  return rate
}

/** Gathers what this appliance says of itself and writes it where status reads it (and its scaling metric). */
export async function publishReport(o: ReportOptions): Promise<FleetReport> {
  const {instanceId} = await instanceIdentity()
  const found: FleetReport = {instanceId, at: new Date().toISOString(), ...(await dataPlane(o.metrics)), ...(o.engine ? await engine(o.engine) : {})}
  const packetsPerSecond = await publishRate(o, found.dataPlane?.packetsIn)
  const report = {...found, ...(packetsPerSecond === undefined ? {} : {packetsPerSecond})}
  const s3 = bucketClient(o.region, o.endpoint)
  await s3.send(new PutObjectCommand({Bucket: o.bucket, Key: reportKey(instanceId), Body: JSON.stringify(report), ContentType: 'application/json'}))
  s3.destroy()
  return report
}
