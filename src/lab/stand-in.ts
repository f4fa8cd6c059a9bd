import {createSocket, type RemoteInfo, type Socket} from 'node:dgram'
import {rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {native, type Watch} from '../appliance/datapath/tun/native.js'
import {AWS_HEADER_LENGTH, decodeGeneve, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GENEVE_PORT, GenevePacket, writeGwlbHeader} from '../appliance/geneve.js'
import {FlowTable, innerTuple, isLinkLocal, type Stickiness} from './flows.js'
import {HealthChecker, probe, type HealthCheckSettings, type TargetHealth} from './health-checks.js'

export type Failover = 'rebalance' | 'no-rebalance'

export interface StandInConfig {
  /** The TUN interface the workload's traffic is routed into: the GWLB endpoint. */
  tun: string
  mtu: number
  /** The GWLB node's address: GENEVE leaves from it (port 6081) and comes back to it. */
  node: string
  targets: {name: string; address: string}[]
  /** The endpoint's ENI and attachment ids (16 hex digits), as the options carry them. */
  endpoint: {eni: string; attachment: string}
  health: HealthCheckSettings
  failover: Failover
  stickiness: Stickiness
  /** Unix socket of the status and probe API (`gwlb lab status` reads it). */
  control: string
}

/** What the stand-in tells `gwlb lab status`. */
export interface StandInStatus {
  targets: (TargetHealth & {name: string; address: string; flows: number; sent: number; received: number})[]
  failover: Failover
  stickiness: Stickiness
  health: HealthCheckSettings
  /** Packets from the workload side into the endpoint, and decapsulated back out of it. */
  fromEndpoint: number
  toEndpoint: number
  failOpen: number
  rebalanced: number
  drops: Record<string, number>
  /** The most recently seen flows (at most 200): which target carries each. */
  flows: {protocol: number; src: string; srcPort: number; dst: string; dstPort: number; target: string; packets: number; bytes: number}[]
}

const BATCH = 32
const SLOT = 65_536
const EXPIRY_MS = 10_000

/**
 * A Gateway Load Balancer node for the lab: what the kernel routes into its TUN interface (the endpoint) goes
 * to a target in GENEVE with the AWS options, per flow, to healthy targets only; what targets send back is
 * decapsulated into the TUN interface for the kernel to deliver.
 */
export class StandIn {
  private readonly io = native()
  private readonly flows: FlowTable
  private readonly checker: HealthChecker
  private readonly udp: Socket
  private readonly control: Server
  private readonly sent: number[]
  private readonly received: number[]
  private readonly drops: Record<string, number> = {}
  private readonly decoded = new GenevePacket()
  private readonly rx: Buffer
  private readonly lengths = new Uint32Array(BATCH + 64)
  private fds = new Int32Array(1)
  private fromEndpoint = 0
  private toEndpoint = 0
  private tunFd = -1
  private watch?: Watch
  private expiry?: NodeJS.Timeout

  constructor(
    private readonly config: StandInConfig,
    private readonly log: (line: string) => void,
  ) {
    this.flows = new FlowTable(config.stickiness, config.failover === 'rebalance')
    this.checker = new HealthChecker(config.targets.map((t) => t.address), config.health, (i, h) =>
      log(`${config.targets[i]!.name}: ${h.state} (${h.last?.detail})`))
    this.sent = config.targets.map(() => 0)
    this.received = config.targets.map(() => 0)
    this.rx = Buffer.alloc((BATCH + this.io.maxSegments) * SLOT)
    this.udp = createSocket('udp4')
    this.control = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://lab')
      const answer = (body: unknown) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(body))
      const target = config.targets[Number(url.searchParams.get('target'))]
      if (url.pathname === '/status') answer(this.status())
      else if (url.pathname === '/probe' && target) void probe(target.address, {...config.health, timeoutSeconds: 1}).then(answer)
      else res.writeHead(404).end()
    })
  }

  async start(): Promise<void> {
    this.tunFd = this.io.openTun(this.config.tun, false, false)
    this.io.linkUp(this.config.tun, this.config.mtu)
    this.fds = Int32Array.of(this.tunFd)
    this.watch = this.io.watch(this.tunFd, () => this.fromWorkload())
    this.udp.on('message', (msg, from) => this.fromTarget(msg, from))
    await new Promise<void>((resolve, reject) => {
      this.udp.once('error', reject)
      this.udp.bind(GENEVE_PORT, this.config.node, resolve)
    })
    rmSync(this.config.control, {force: true})
    await new Promise<void>((resolve) => this.control.listen(this.config.control, resolve))
    this.checker.start()
    this.expiry = setInterval(() => this.flows.expire(), EXPIRY_MS)
  }

  stop(): void {
    this.checker.stop()
    clearInterval(this.expiry)
    if (this.watch) this.io.unwatch(this.watch)
    if (this.tunFd >= 0) this.io.close(this.tunFd)
    this.udp.close()
    this.control.close()
    rmSync(this.config.control, {force: true})
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1
  }

  /** Packets the kernel routed into the endpoint: each to its flow's target, in GENEVE. */
  private fromWorkload(): void {
    const count = this.io.readTunBatch(this.tunFd, this.rx, SLOT, 0, this.lengths, BATCH, new Uint32Array(1))
    for (let i = 0; i < count; i++) {
      const offset = i * SLOT
      const length = this.lengths[i]!
      const tuple = innerTuple(this.rx, offset, length)
      if (!tuple || isLinkLocal(tuple)) {
        this.drop(tuple ? 'link-local' : 'not-ip')
        continue
      }
      this.fromEndpoint++
      const flow = this.flows.route(tuple, length, this.checker.healthy())
      if (!flow) {
        this.drop('flow-table-full')
        continue
      }
      const datagram = Buffer.allocUnsafe(AWS_HEADER_LENGTH + length)
      writeGwlbHeader(datagram, 0, this.rx[offset]! >> 4 === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, {...this.config.endpoint, flowCookie: flow.cookie})
      this.rx.copy(datagram, AWS_HEADER_LENGTH, offset, offset + length)
      this.sent[flow.target]!++
      this.udp.send(datagram, GENEVE_PORT, this.config.targets[flow.target]!.address)
    }
  }

  /** GENEVE a target sent back: decapsulated into the endpoint, if it is one of ours and for our endpoint. */
  private fromTarget(msg: Buffer, from: RemoteInfo): void {
    const target = this.config.targets.findIndex((t) => t.address === from.address)
    if (target < 0) return this.drop('unknown-target')
    const reason = decodeGeneve(msg, 0, msg.length, this.decoded)
    if (reason) return this.drop(reason)
    if (this.decoded.eniHex !== this.config.endpoint.eni) return this.drop('unknown-endpoint')
    this.received[target]!++
    const {innerOffset, innerLength} = this.decoded
    const tuple = innerTuple(msg, innerOffset, innerLength)
    // Its reply refreshes the flow (an unknown one, with the table full, still goes through).
    if (tuple) this.flows.route(tuple, innerLength, this.checker.healthy())
    this.toEndpoint += this.io.writeTunBatch(this.fds, msg, Uint32Array.of(innerOffset), Uint32Array.of(innerLength), 1, false, new Uint32Array(1))
  }

  status(): StandInStatus {
    const perTarget = this.flows.perTarget(this.config.targets.length)
    const recent = [...this.flows.flows.values()].sort((a, b) => b.seen - a.seen).slice(0, 200)
    return {
      targets: this.config.targets.map((t, i) => ({...t, ...this.checker.health[i]!, flows: perTarget[i]!, sent: this.sent[i]!, received: this.received[i]!})),
      failover: this.config.failover,
      stickiness: this.config.stickiness,
      health: this.config.health,
      fromEndpoint: this.fromEndpoint,
      toEndpoint: this.toEndpoint,
      failOpen: this.flows.failOpen,
      rebalanced: this.flows.rebalanced,
      drops: this.drops,
      flows: recent.map((f) => ({...f.tuple, target: this.config.targets[f.target]!.name, packets: f.packets, bytes: f.bytes})),
    }
  }
}
