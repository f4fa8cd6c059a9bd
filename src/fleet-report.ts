/**
 * What each appliance says of itself to the operator, every 30 s, as one JSON object in the deployment's
 * bucket (`reports/<instance-id>.json`): written by `gwlb appliance report` on the instance, read by
 * `gwlb status` and `gwlb policy show`. Only what the appliance knows and AWS does not: its data plane, the
 * versions it runs, its inspection engine, its alert shipping.
 */
export const REPORTS_PREFIX = 'reports/'
/** How often the appliances write theirs; status calls one older than three of these stale. */
export const REPORT_SECONDS = 30

export interface FleetReport {
  instanceId: string
  at: string
  /** The data plane's own word (its report on the metrics listener); absent: it did not answer. */
  dataPlane?: {status: string; datapath: string; tunnels: number; flows: number; packetsIn: number}
  /** SHA-256 of the egress policy in force, and the last change it refused. */
  policy?: {sha256: string; refused?: string}
  /** The inspection hook: attached or bypassed, and what went to the engine. */
  inspection?: {mode: string; state: string; packets: number; queueDrops: number}
  /** The engine: running (with its rules loaded), stopped, or not installed (the bootstrap could not). */
  engine?: {state: 'running' | 'stopped' | 'not installed'; rulesLoaded?: number; rules?: string}
  /** The alert shipper: events shipped since it began, bytes of eve.json not shipped yet. */
  alerts?: {shipped: number; backlogBytes: number; at?: string}
  /** GENEVE packets a second since its last report, as published for the group's scaling. */
  packetsPerSecond?: number
}

export const reportKey = (instanceId: string) => `${REPORTS_PREFIX}${instanceId}.json`
