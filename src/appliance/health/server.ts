import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AnyDropReason, TrafficCounters} from '../counters.js'
import {TUNNEL_STATES, type TunnelState} from '../datapath/datapath.js'
import type {InspectionReport} from '../host/inspection.js'

export type HealthFormat = 'text' | 'json' | 'status'
/** uninspected: running, but --inspect-fail closed and no engine attached (503, as starting and stopping). */
export type Readiness = 'starting' | 'ready' | 'uninspected' | 'stopping'

export interface TunnelReport {
  ingress: string
  egress: string
  eni: string
  state: TunnelState
  traffic: TrafficCounters
  createdAt: string
  idleSeconds: number
}

export interface HealthReport {
  status: Readiness
  mode: string
  workers: number
  uptimeSeconds: number
  /** bpf: the kernel moves the packets of tunnels that are up; tun: this process moves them all. */
  datapath: 'bpf' | 'tun'
  traffic: TrafficCounters
  /** The part of traffic the kernel moved by itself (BPF path). */
  kernelTraffic: TrafficCounters
  drops: Record<AnyDropReason, number>
  /** Replies read by another worker than the one that received their request (the shared table at work). */
  crossWorkerReplies: number
  /** Packets written into a tunnel inside a GSO packet with others of their flow (routed and filtered once). */
  coalesced: number
  /** GENEVE packets that arrived merged by GRO with others of their GWLB flow. */
  groMerged: number
  /** Live flows pushed out of the flow table (--max-flows reached in their part of it). */
  flowEvictions: number
  /** GENEVE datagrams the kernel dropped because the receive buffer was full (all workers' sockets). */
  receiveBufferDrops: number
  flows: number
  tunnels: TunnelReport[]
  /** Absent: --inspect off. */
  inspection?: InspectionReport
}

const TEXT = 'text/plain; charset=utf-8'

/** One HTTP answer, complete (GWLB health checks want valid HTTP: a length, CRLF, no keep-alive). */
function send(request: IncomingMessage, response: ServerResponse, code: number, type: string, body: string): void {
  response.writeHead(code, {'Content-Type': type, 'Content-Length': Buffer.byteLength(body), Connection: 'close'})
  response.end(request.method === 'HEAD' ? undefined : body)
}

/** HTTP servers on one or more addresses, closed together. */
class Listeners {
  private readonly servers: Server[] = []

  constructor(private readonly answer: (request: IncomingMessage, response: ServerResponse) => void) {}

  listen(port: number, host?: string): Promise<void> {
    const server = createServer(this.answer)
    // GWLB health checks open a connection per probe: don't keep idle ones around.
    server.keepAliveTimeout = 0
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        this.servers.push(server)
        resolve()
      })
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })))
  }
}

/**
 * The health-check port: 503 until ready and while stopping, 200 while running, and nothing else — the GWLB
 * needs no more, and the whole VPC may reach this port. It may listen on more than one port: while a fleet
 * moves to another health port, the target group still checks the old one until every appliance answers on the new.
 */
export class HealthServer extends Listeners {
  constructor(
    private readonly format: HealthFormat,
    private readonly status: () => Readiness,
  ) {
    super((request, response) => this.reply(request, response))
  }

  private reply(request: IncomingMessage, response: ServerResponse): void {
    const status = this.status()
    if (request.url?.split('?')[0] === '/metrics') return send(request, response, 404, TEXT, 'not on the health port: see --metrics-listen\n')
    const body = this.format === 'status' ? '' : this.format === 'json' ? JSON.stringify({status}) + '\n' : `gwlb appliance: ${status}\n`
    send(request, response, status === 'ready' ? 200 : 503, this.format === 'json' ? 'application/json' : TEXT, body)
  }
}

/**
 * The detailed report (endpoints' ENI ids, counters per tunnel) and Prometheus metrics, on --metrics-listen:
 * `/` text, `/json` JSON, `/metrics`. Loopback by default; on another address only the allowed sources (and the
 * host itself) get an answer.
 */
export class ReportServer extends Listeners {
  constructor(
    private readonly report: () => HealthReport,
    private readonly allowed: (address: string) => boolean,
  ) {
    super((request, response) => this.reply(request, response))
  }

  private reply(request: IncomingMessage, response: ServerResponse): void {
    if (!this.allowed(request.socket.remoteAddress ?? '')) return send(request, response, 403, TEXT, 'forbidden\n')
    const health = this.report()
    const path = request.url?.split('?')[0]
    if (path === '/metrics') return send(request, response, 200, 'text/plain; version=0.0.4', renderMetrics(health))
    if (path === '/json') return send(request, response, 200, 'application/json', JSON.stringify(health) + '\n')
    if (path === '/') return send(request, response, 200, TEXT, renderText(health))
    send(request, response, 404, TEXT, 'GET /, /json or /metrics\n')
  }
}

function renderText(h: HealthReport): string {
  const t = h.traffic
  const drops = Object.entries(h.drops).filter(([, n]) => n > 0)
  const lines = [
    `gwlb appliance: ${h.status} (${h.mode}, ${h.datapath} data path, ${h.workers} workers), up ${h.uptimeSeconds}s`,
    `GENEVE in ${t.packetsIn} packets / ${t.bytesIn} bytes, out ${t.packetsOut} packets / ${t.bytesOut} bytes`,
    `flows ${h.flows}, tunnels ${h.tunnels.length}, drops ${drops.length ? drops.map(([r, n]) => `${r}=${n}`).join(' ') : 'none'}`,
    ...(h.inspection ? [`inspection ${h.inspection.mode} on ${h.inspection.where}: ${h.inspection.state} (fail ${h.inspection.fail}), ${h.inspection.packets} packets, ${h.inspection.queueDrops} queue drops`] : []),
    ...h.tunnels.map((x) =>
      `  ${x.ingress}/${x.egress} eni-${x.eni} ${x.state}: in ${x.traffic.packetsIn} pkts, out ${x.traffic.packetsOut} pkts, idle ${x.idleSeconds}s`),
  ]
  return lines.join('\n') + '\n'
}

/** Prometheus text exposition of the same counters. */
export function renderMetrics(h: HealthReport): string {
  const out: string[] = []
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    out.push(`# HELP gwlb_${name} ${help}`, `# TYPE gwlb_${name} ${type}`)
    for (const [labels, value] of samples) out.push(`gwlb_${name}${labels} ${value}`)
  }
  const tunnel = (x: TunnelReport) => `interface="${x.ingress}",eni="eni-${x.eni}"`
  metric('up', 'gauge', '1 while the appliance is ready to forward.', [['', h.status === 'ready' ? 1 : 0]])
  metric('uptime_seconds', 'gauge', 'Seconds since the appliance started.', [['', h.uptimeSeconds]])
  metric('datapath', 'gauge', 'What moves the packets: bpf (the kernel) or tun (this process).', [[`{datapath="${h.datapath}"}`, 1]])
  metric('kernel_packets_total', 'counter', 'GENEVE packets the kernel moved by itself (BPF data path), from (in) and back to (out) the GWLB.', [
    ['{direction="in"}', h.kernelTraffic.packetsIn],
    ['{direction="out"}', h.kernelTraffic.packetsOut],
  ])
  metric('flows', 'gauge', 'Flows in the flow table.', [['', h.flows]])
  metric('cross_worker_replies_total', 'counter', 'Replies read by another worker than the one that received the request.', [['', h.crossWorkerReplies]])
  metric('coalesced_packets_total', 'counter', 'Packets written into a tunnel inside a GSO packet with others of their flow.', [['', h.coalesced]])
  metric('gro_packets_total', 'counter', 'GENEVE packets that arrived merged by GRO with others of their GWLB flow.', [['', h.groMerged]])
  metric('flow_evictions_total', 'counter', 'Live flows pushed out of the flow table to make room for new ones (--max-flows).', [['', h.flowEvictions]])
  metric('receive_buffer_drops_total', 'counter', 'GENEVE datagrams dropped by the kernel: the sockets\' receive buffers were full.', [['', h.receiveBufferDrops]])
  metric('tunnels', 'gauge', 'Tunnel interface pairs (one per GWLB endpoint), by state.',
    TUNNEL_STATES.map((state) => [`{state="${state}"}`, h.tunnels.filter((x) => x.state === state).length]))
  metric('geneve_packets_total', 'counter', 'GENEVE packets from (in) and back to (out) the GWLB.', [
    ['{direction="in"}', h.traffic.packetsIn],
    ['{direction="out"}', h.traffic.packetsOut],
  ])
  metric('geneve_bytes_total', 'counter', 'Bytes of GENEVE payload from (in) and back to (out) the GWLB.', [
    ['{direction="in"}', h.traffic.bytesIn],
    ['{direction="out"}', h.traffic.bytesOut],
  ])
  metric('drops_total', 'counter', 'Packets dropped, by reason.', Object.entries(h.drops).map(([r, n]) => [`{reason="${r}"}`, n]))
  metric('tunnel_packets_total', 'counter', 'Inner packets per tunnel and direction.', h.tunnels.flatMap((x) => [
    [`{${tunnel(x)},direction="in"}`, x.traffic.packetsIn] as [string, number],
    [`{${tunnel(x)},direction="out"}`, x.traffic.packetsOut] as [string, number],
  ]))
  metric('tunnel_bytes_total', 'counter', 'Inner bytes per tunnel and direction.', h.tunnels.flatMap((x) => [
    [`{${tunnel(x)},direction="in"}`, x.traffic.bytesIn] as [string, number],
    [`{${tunnel(x)},direction="out"}`, x.traffic.bytesOut] as [string, number],
  ]))
  const i = h.inspection
  if (i) {
    metric('inspection', 'gauge', 'Where the inspection engine is: attached, or bypassed (no engine: traffic flows uninspected, or health says 503 with --inspect-fail closed).',
      (['attached', 'bypassed'] as const).map((state) => [`{mode="${i.mode}",state="${state}"}`, i.state === state ? 1 : 0]))
    metric('inspection_packets_total', 'counter', 'Packets handed to the engine (ips: its queues) or copied to the monitor interface (ids).', [[`{mode="${i.mode}"}`, i.packets]])
    metric('inspection_queue_drops_total', 'counter', 'Packets the inspection queues dropped (full) or the engine failed to take (ips).', [[`{mode="${i.mode}"}`, i.queueDrops]])
  }
  return out.join('\n') + '\n'
}
