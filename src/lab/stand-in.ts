import {rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {native, type Watch} from '../appliance/datapath/native.js'
import {GENEVE_PORT, MAX_SEGMENTS, RECV_FIELD, RECV_FIELD_COUNT} from '../generated/abi.js'
import {AWS_HEADER_LENGTH, decodeGeneve, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GenevePacket, OUTER_HEADER_LENGTH, writeGwlbHeader, writeOuterHeaders} from '../appliance/geneve.js'
import {ipv4Number} from '../cidr.js'
import {StickyFlows, innerTuple, isLinkLocal, type Stickiness} from './flows.js'
import {HealthChecker, probe, type HealthCheckSettings, type CheckedTarget} from './health-checks.js'

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
  targets: (CheckedTarget & {name: string; address: string; flows: number; sent: number; received: number})[]
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
const SLOT = 16_384
/** Room before each packet read from the TUN interface for the outer IPv4/UDP and the GENEVE headers. */
const HEADROOM = OUTER_HEADER_LENGTH + AWS_HEADER_LENGTH
const EXPIRY_MS = 10_000

/**
 * A Gateway Load Balancer node for the lab: what the kernel routes into its TUN interface (the endpoint) goes
 * to a target in GENEVE with the AWS options, per flow, to healthy targets only; what targets send back is
 * decapsulated into the TUN interface for the kernel to deliver.
 */
export class StandIn {
  private readonly io = native()
  private readonly flows: StickyFlows
  private readonly checker: HealthChecker
  private readonly control: Server
  private readonly sent: number[]
  private readonly received: number[]
  private readonly drops: Record<string, number> = {}
  private readonly decoded = new GenevePacket()
  private readonly rx: Buffer
  private readonly lengths = new Uint32Array(BATCH + MAX_SEGMENTS)
  /** What the native calls report beside their result (packets that could not be cut, packets merged): unused here. */
  private readonly scratch = new Uint32Array(1)
  private readonly out = {offsets: new Uint32Array(BATCH), lengths: new Uint32Array(BATCH), destinations: new Uint32Array(BATCH)}
  private readonly node: number
  private readonly addresses: number[]
  private readonly back: Buffer
  private readonly backMeta: Uint32Array
  private readonly fds = new Int32Array(BATCH)
  private fromEndpoint = 0
  private toEndpoint = 0
  private tunFd = -1
  private rawFd = -1
  private udpFd = -1
  private readonly watches: Watch[] = []
  private expiry?: NodeJS.Timeout

  constructor(
    private readonly config: StandInConfig,
    log: (line: string) => void,
  ) {
    this.flows = new StickyFlows(config.stickiness, config.failover === 'rebalance')
    this.checker = new HealthChecker(config.targets.map((t) => t.address), config.health, (i, h) =>
      log(`${config.targets[i]!.name}: ${h.state} (${h.last?.detail})`))
    this.node = ipv4Number(config.node)
    this.addresses = config.targets.map((t) => ipv4Number(t.address))
    this.sent = config.targets.map(() => 0)
    this.received = config.targets.map(() => 0)
    this.rx = Buffer.alloc((BATCH + MAX_SEGMENTS) * SLOT)
    this.back = Buffer.alloc(BATCH * SLOT)
    this.backMeta = new Uint32Array(BATCH * RECV_FIELD_COUNT)
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
    this.fds.fill(this.tunFd)
    this.rawFd = this.io.openRaw(4 << 20)
    this.udpFd = this.io.openUdp(GENEVE_PORT, 4 << 20, 0, false)
    this.watches.push(this.io.watch(this.tunFd, () => this.fromWorkload()), this.io.watch(this.udpFd, () => this.fromTargets()))
    rmSync(this.config.control, {force: true})
    await new Promise<void>((resolve) => this.control.listen(this.config.control, resolve))
    this.checker.start()
    this.expiry = setInterval(() => this.flows.expire(), EXPIRY_MS)
  }

  stop(): void {
    this.checker.stop()
    clearInterval(this.expiry)
    for (const watch of this.watches.splice(0)) this.io.unwatch(watch)
    for (const fd of [this.tunFd, this.rawFd, this.udpFd]) if (fd >= 0) this.io.close(fd)
    this.control.close()
    rmSync(this.config.control, {force: true})
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1
  }

  /**
   * Packets the kernel routed into the endpoint: each to its flow's target in GENEVE, written in front of it
   * where it was read, and sent in one batch from the flow's source port (a raw socket: one per port would not do).
   */
  private fromWorkload(): void {
    const count = this.io.readTunBatch(this.tunFd, this.rx, SLOT, HEADROOM, this.lengths, BATCH, this.scratch)
    const {out} = this
    const healthy = this.checker.healthy()
    let n = 0
    for (let i = 0; i < count; i++) {
      const offset = i * SLOT + HEADROOM
      const length = this.lengths[i]!
      const tuple = innerTuple(this.rx, offset, length)
      if (!tuple || isLinkLocal(tuple)) {
        this.drop(tuple ? 'link-local' : 'not-ip')
        continue
      }
      this.fromEndpoint++
      const flow = this.flows.route(tuple, length, healthy)
      if (!flow) {
        this.drop('flow-table-full')
        continue
      }
      const start = offset - HEADROOM
      writeGwlbHeader(this.rx, offset - AWS_HEADER_LENGTH, this.rx[offset]! >> 4 === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, {...this.config.endpoint, flowCookie: flow.cookie})
      writeOuterHeaders(this.rx, start, AWS_HEADER_LENGTH + length, this.node, this.addresses[flow.target]!, flow.sourcePort, GENEVE_PORT)
      out.offsets[n] = start
      out.lengths[n] = HEADROOM + length
      out.destinations[n++] = this.addresses[flow.target]!
      this.sent[flow.target]!++
    }
    const sent = n ? this.io.sendRawBatch(this.rawFd, this.rx, out.offsets, out.lengths, out.destinations, n) : 0
    for (let i = sent; i < n; i++) this.drop('send-failed')
  }

  /** GENEVE targets sent back: decapsulated into the endpoint in one batch, if from a target of ours and for our endpoint. */
  private fromTargets(): void {
    const {back, backMeta, decoded, out} = this
    const count = this.io.recvUdpBatch(this.udpFd, back, SLOT, 0, backMeta, BATCH)
    const healthy = this.checker.healthy()
    let n = 0
    for (let i = 0; i < count; i++) {
      const target = this.addresses.indexOf(backMeta[i * RECV_FIELD_COUNT + RECV_FIELD.senderAddress]!)
      if (target < 0) {
        this.drop('unknown-target')
        continue
      }
      const reason = decodeGeneve(back, i * SLOT, backMeta[i * RECV_FIELD_COUNT + RECV_FIELD.length]!, decoded)
      if (reason || decoded.eniHex !== this.config.endpoint.eni) {
        this.drop(reason ?? 'unknown-endpoint')
        continue
      }
      this.received[target]!++
      const tuple = innerTuple(back, decoded.innerOffset, decoded.innerLength)
      // Its reply refreshes the flow (an unknown one, with the table full, still goes through).
      if (tuple) this.flows.route(tuple, decoded.innerLength, healthy)
      out.offsets[n] = decoded.innerOffset
      out.lengths[n++] = decoded.innerLength
    }
    if (n) this.toEndpoint += this.io.writeTunBatch(this.fds, back, out.offsets, out.lengths, n, false, this.scratch)
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
