import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {renderMetrics} from './metrics.js'
import type {HealthFormat, HealthReport, Readiness} from './report.js'

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
    ...(h.policy ? [`policy ${h.policy.sha256.slice(0, 12)} (default ${h.policy.default}) since ${h.policy.appliedAt}${h.policy.refused ? `; last change refused: ${h.policy.refused.message}` : ''}`] : []),
    ...(h.policy?.rules ?? []).map((r) => `  ${r.action} ${r.name}: ${r.flows} flows, ${r.packets} packets`),
    ...h.tunnels.map((x) =>
      `  ${x.ingress}/${x.egress} eni-${x.eni} ${x.state}: in ${x.traffic.packetsIn} pkts, out ${x.traffic.packetsOut} pkts, idle ${x.idleSeconds}s`),
  ]
  return lines.join('\n') + '\n'
}
