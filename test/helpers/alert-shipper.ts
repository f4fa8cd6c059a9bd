import {spawn} from 'node:child_process'

/** `gwlb appliance ship-alerts` as gwlb-alerts.service runs it (through AWS_ENDPOINT_URL, the emulator), until stopped. */
export function startShipper(o: {group: string; stream: string; eve: string; state: string; more?: string[]}) {
  const child = spawn('./bin/run.js', ['appliance', 'ship-alerts', '--log-group', o.group, '--stream', o.stream, '--region', 'us-east-1', '--file', o.eve, '--state', o.state, ...o.more ?? []],
    {env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'ignore', 'pipe']})
  let said = ''
  child.stderr.on('data', (d: Buffer) => (said += d.toString()))
  const ended = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return {
    said: () => said,
    exited: () => ended,
    kill: async (signal: NodeJS.Signals) => (child.kill(signal), ended),
  }
}

let serial = 0
/** n eve lines (alerts, or `eventType`) as Suricata writes them, each its own (time to the microsecond, flow id), from `start`. */
export function eveAlerts(n: number, start = Date.parse('2026-12-04T10:00:00Z'), eventType = 'alert'): string {
  return Array.from({length: n}, () => {
    const i = serial++
    const time = new Date(start + Math.floor(i / 10)).toISOString().replace('Z', `${String(i % 10).padStart(3, '0')}+0000`)
    return `${JSON.stringify({
      timestamp: time, flow_id: 1_000_000 + i, in_iface: 'gwlb-mon', event_type: eventType, src_ip: '10.0.1.5', src_port: 40_000 + (i % 20_000),
      dest_ip: '198.18.0.10', dest_port: 80, proto: 'TCP', alert: {action: 'allowed', gid: 1, signature_id: 2_100_498, rev: 7, signature: 'GPL ATTACK_RESPONSE id check returned root', severity: 2},
      payload_printable: 'uid=0(root) gid=0(root) groups=0(root)'.repeat(8),
    })}\n`
  }).join('')
}
