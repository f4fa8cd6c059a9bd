import {PutObjectCommand} from '../../sdk/s3.js'
import {existsSync} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {reportKey, type FleetReport} from '../../fleet-report.js'
import type {ShipperPosition} from '../alerts/shipper.js'
import type {HealthReport} from '../health/report.js'
import {bucketClient, sha256Of} from '../staged/sync.js'
import {engineCommand} from './engine-control.js'
import {instanceIdentity} from './imds.js'
import {readJson, runTool} from './system.js'

/** `gwlb appliance report`: where to look on this instance, and where to write. */
export interface ReportOptions {
  bucket: string
  region: string
  endpoint?: string
  /** The data plane's report (its --metrics-listen, /json). */
  metrics: string
  /** With an engine: its control socket, the operator's rules file, the shipper's state and Suricata's eve.json. */
  engine?: {socket: string; rules: string; shipperState: string; eve: string}
}

async function dataPlane(url: string): Promise<Pick<FleetReport, 'dataPlane' | 'policy' | 'inspection'>> {
  const health = await fetch(`${url}/json`, {signal: AbortSignal.timeout(2000)}).then((r) => r.json() as Promise<HealthReport>, () => undefined)
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

/** Gathers what this appliance says of itself and writes it where status reads it. */
export async function publishReport(o: ReportOptions): Promise<FleetReport> {
  const {instanceId} = await instanceIdentity()
  const report: FleetReport = {instanceId, at: new Date().toISOString(), ...(await dataPlane(o.metrics)), ...(o.engine ? await engine(o.engine) : {})}
  const s3 = bucketClient(o.region, o.endpoint)
  await s3.send(new PutObjectCommand({Bucket: o.bucket, Key: reportKey(instanceId), Body: JSON.stringify(report), ContentType: 'application/json'}))
  s3.destroy()
  return report
}
