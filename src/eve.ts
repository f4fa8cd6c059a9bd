/**
 * Suricata's eve.json, as gwlb reads it wherever the alerts are: in the lab's folders (`gwlb lab alerts`) and in
 * the deployment's CloudWatch Logs group, one stream per appliance (`gwlb alerts`).
 */
export interface Alert {
  time: string
  /** The lab node, or the instance id (its stream's name). */
  appliance: string
  signatureId: number
  signature: string
  /** allowed: an alert only; blocked: the engine dropped the packet (ips). */
  action: string
  protocol: string
  source: string
  destination: string
}

interface EveAlert {
  timestamp: string
  event_type: string
  proto: string
  src_ip: string
  src_port?: number
  dest_ip: string
  dest_port?: number
  alert: {action: string; signature_id: number; signature: string}
}

const endpoint = (ip: string, port?: number) => (port === undefined ? ip : ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`)

/** The alert an eve line records, or undefined for other events (flow, dns, tls, stats) and lines cut short. */
export function alertOf(line: string, appliance: string): Alert | undefined {
  if (!line.includes('"event_type":"alert"')) return undefined
  let e: EveAlert
  try {
    e = JSON.parse(line) as EveAlert
  } catch {
    return undefined
  }
  return {
    time: e.timestamp, appliance, signatureId: e.alert.signature_id, signature: e.alert.signature, action: e.alert.action,
    protocol: e.proto, source: endpoint(e.src_ip, e.src_port), destination: endpoint(e.dest_ip, e.dest_port),
  }
}

/** One alert on one line, as both alerts commands print it. */
export const alertText = (a: Alert) => `${a.time}  ${a.appliance}  [${a.signatureId}] ${a.signature}  ${a.protocol} ${a.source} → ${a.destination}  ${a.action}`

/**
 * When an eve event happened, in ms since the epoch: Suricata writes `2026-12-04T17:00:00.123456+0000`
 * (microseconds, an offset without a colon), which Date.parse does not read as it stands.
 */
export function eveTime(line: string): number | undefined {
  const m = /"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d):?(\d\d)"/.exec(line)
  if (!m) return undefined
  const ms = Date.parse(`${m[1]}${(m[2] ?? '.000').slice(0, 4).padEnd(4, '0')}${m[3]}:${m[4]}`)
  return Number.isNaN(ms) ? undefined : ms
}
