import type {TrafficCounters} from '../counters.js'
import {TUNNEL_STATES} from '../datapath/datapath.js'
import type {HealthReport, TunnelReport} from './report.js'

/** A sample: its labels (`{a="b"}`, or empty) and its value. */
type Sample = [labels: string, value: number]

/**
 * One Prometheus metric of the appliance, declared once: its name (after `gwlb_`), type, help, and where its
 * samples are in the report. Adding a metric is one entry of METRICS.
 */
export interface Metric {
  name: string
  type: 'gauge' | 'counter'
  help: string
  /** Its samples; none at all (not even the HELP line) where the report has nothing of it (--inspect off). */
  samples(h: HealthReport): Sample[] | undefined
}

const directions = (t: TrafficCounters, what: 'packets' | 'bytes', labels = ''): Sample[] => [
  [`{${labels}direction="in"}`, what === 'packets' ? t.packetsIn : t.bytesIn],
  [`{${labels}direction="out"}`, what === 'packets' ? t.packetsOut : t.bytesOut],
]
const one = (value: number): Sample[] => [['', value]]
const perTunnel = (h: HealthReport, what: 'packets' | 'bytes') =>
  h.tunnels.flatMap((x: TunnelReport) => directions(x.traffic, what, `interface="${x.ingress}",eni="eni-${x.eni}",`))

export const METRICS: Metric[] = [
  {name: 'up', type: 'gauge', help: '1 while the appliance is ready to forward.', samples: (h) => one(h.status === 'ready' ? 1 : 0)},
  {name: 'uptime_seconds', type: 'gauge', help: 'Seconds since the appliance started.', samples: (h) => one(h.uptimeSeconds)},
  {name: 'datapath', type: 'gauge', help: 'What moves the packets: bpf (the kernel) or tun (this process).', samples: (h) => [[`{datapath="${h.datapath}"}`, 1]]},
  {name: 'kernel_packets_total', type: 'counter', help: 'GENEVE packets the kernel moved by itself (BPF data path), from (in) and back to (out) the GWLB.', samples: (h) => directions(h.kernelTraffic, 'packets')},
  {name: 'flows', type: 'gauge', help: 'Flows in the flow table.', samples: (h) => one(h.flows)},
  {name: 'cross_worker_replies_total', type: 'counter', help: 'Replies read by another worker than the one that received the request.', samples: (h) => one(h.crossWorkerReplies)},
  {name: 'coalesced_packets_total', type: 'counter', help: 'Packets written into a tunnel inside a GSO packet with others of their flow.', samples: (h) => one(h.coalesced)},
  {name: 'gro_packets_total', type: 'counter', help: 'GENEVE packets that arrived merged by GRO with others of their GWLB flow.', samples: (h) => one(h.groMerged)},
  {name: 'flow_evictions_total', type: 'counter', help: 'Live flows pushed out of the flow table to make room for new ones (--max-flows).', samples: (h) => one(h.flowEvictions)},
  {name: 'receive_buffer_drops_total', type: 'counter', help: 'GENEVE datagrams dropped by the kernel: the sockets\' receive buffers were full.', samples: (h) => one(h.receiveBufferDrops)},
  {name: 'tunnels', type: 'gauge', help: 'Tunnel interface pairs (one per GWLB endpoint), by state.',
    samples: (h) => TUNNEL_STATES.map((state) => [`{state="${state}"}`, h.tunnels.filter((x) => x.state === state).length])},
  {name: 'geneve_packets_total', type: 'counter', help: 'GENEVE packets from (in) and back to (out) the GWLB.', samples: (h) => directions(h.traffic, 'packets')},
  {name: 'geneve_bytes_total', type: 'counter', help: 'Bytes of GENEVE payload from (in) and back to (out) the GWLB.', samples: (h) => directions(h.traffic, 'bytes')},
  {name: 'drops_total', type: 'counter', help: 'Packets dropped, by reason.', samples: (h) => Object.entries(h.drops).map(([r, n]) => [`{reason="${r}"}`, n])},
  {name: 'tunnel_packets_total', type: 'counter', help: 'Inner packets per tunnel and direction.', samples: (h) => perTunnel(h, 'packets')},
  {name: 'tunnel_bytes_total', type: 'counter', help: 'Inner bytes per tunnel and direction.', samples: (h) => perTunnel(h, 'bytes')},
  {name: 'inspection', type: 'gauge', help: 'Where the inspection engine is: attached, or bypassed (no engine: traffic flows uninspected, or health says 503 with --inspect-fail closed).',
    samples: ({inspection: i}) => i && (['attached', 'bypassed'] as const).map((state) => [`{mode="${i.mode}",state="${state}"}`, i.state === state ? 1 : 0])},
  {name: 'inspection_packets_total', type: 'counter', help: 'Packets handed to the engine (ips: its queues) or copied to the monitor interface (ids).',
    samples: ({inspection: i}) => i && [[`{mode="${i.mode}"}`, i.packets]]},
  {name: 'policy', type: 'gauge', help: 'The egress policy in force (version: its SHA-256), 1; refused="1" while the last change was refused.',
    samples: ({policy: p}) => p && [[`{version="${p.sha256}",refused="${p.refused ? 1 : 0}"}`, 1]]},
  {name: 'policy_flows_total', type: 'counter', help: 'Flows the egress policy decided, by rule (default: no rule matched) and action, counted by their first packet.',
    samples: ({policy: p}) => p?.rules.map((r) => [`{rule="${r.name}",action="${r.action}"}`, r.flows])},
  {name: 'policy_packets_total', type: 'counter', help: 'Packets the egress policy decided, by rule and action.',
    samples: ({policy: p}) => p?.rules.map((r) => [`{rule="${r.name}",action="${r.action}"}`, r.packets])},
  {name: 'inspection_queue_drops_total', type: 'counter', help: 'Packets the inspection queues dropped (full) or the engine failed to take (ips).',
    samples: ({inspection: i}) => i && [[`{mode="${i.mode}"}`, i.queueDrops]]},
]

/** Prometheus text exposition of the report, metric by metric. */
export function renderMetrics(h: HealthReport): string {
  const out: string[] = []
  for (const m of METRICS) {
    const samples = m.samples(h)
    if (!samples) continue
    out.push(`# HELP gwlb_${m.name} ${m.help}`, `# TYPE gwlb_${m.name} ${m.type}`, ...samples.map(([labels, value]) => `gwlb_${m.name}${labels} ${value}`))
  }
  return out.join('\n') + '\n'
}
