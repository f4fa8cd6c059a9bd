import {emptyTraffic, Counters, type TrafficCounters} from './counters.js'
import {FlowTable, type FlowInfo} from './flow-table.js'
import {decodeGeneve, GENEVE_PORT, GenevePacket, OUTER_HEADER_LENGTH, writeOuterHeaders} from './geneve.js'
import {tunnelNames, type TunnelNames} from './names.js'
import {native, type Native, type Watch} from './native.js'
import {writeSysctl} from './system.js'

/** Inner packets up to 8500 bytes cross GWLB; the tunnel interfaces get exactly that MTU. */
export const TUNNEL_MTU = 8500
/** Room before each packet for the outer IPv4/UDP headers and the largest GENEVE header (8 + 63*4 bytes). */
const HEADROOM = 320
/** Largest UDP payload on a 9001-byte jumbo-frame interface, rounded up. */
const SLOT = HEADROOM + 9024
/** Packets queued for a tunnel whose interfaces are still being created. */
const MAX_PENDING = 256

/**
 * No IPv6 link-local address on a tunnel interface: without it the kernel sends no router solicitations or
 * MLD reports into the tunnel (packets of no flow), while it still forwards IPv6 through it.
 */
async function quietIpv6(name: string): Promise<void> {
  await writeSysctl(`net.ipv6.conf.${name}.addr_gen_mode`, 1).catch(() => undefined) // IPv6 off: nothing to quiet
}

/** IPv6 to ff02::/16: never part of a flow, never meant for the GWLB. */
function isLinkLocalMulticast(buf: Uint8Array, p: number): boolean {
  return buf[p]! >> 4 === 6 && buf[p + 24] === 0xff && (buf[p + 25]! & 0x0f) === 0x02
}

/** Seconds on a monotonic clock: the flow table's time. */
const flowClock = () => Math.floor(performance.now() / 1000)

export type TunnelState = 'creating' | 'up' | 'closing' | 'failed'

export class Tunnel {
  state: TunnelState = 'creating'
  readonly traffic: TrafficCounters = emptyTraffic()
  readonly createdAt = Date.now()
  lastActivity = Date.now()
  ingressFd = -1
  egressFd = -1
  watches: Watch[] = []
  pending: Buffer[] = []
  /** Settles when a closing tunnel is gone, so that a re-creation waits for the names to be free. */
  closed?: Promise<void>

  constructor(
    readonly index: number,
    readonly eniHigh: number,
    readonly eniLow: number,
    readonly names: TunnelNames,
  ) {}

  get ingress(): string {
    return this.names.ingress
  }

  get egress(): string {
    return this.names.egress
  }
}

export interface ForwarderOptions {
  port?: number
  /** Seconds without traffic (either way) after which a tunnel is destroyed; 0 keeps tunnels forever. */
  idleTimeout: number
  /** Seconds without traffic after which a flow's header is forgotten. */
  flowTimeout: number
  maxFlows: number
  batch?: number
  receiveBuffer?: number
  /** Brings a tunnel into service (rules, hook) after its interfaces are up; a rejection fails the tunnel. */
  onTunnelUp(tunnel: Tunnel): Promise<void>
  onTunnelDown(tunnel: Tunnel): Promise<void>
  log(message: string): void
}

/**
 * The GENEVE forwarder: receives GWLB traffic on UDP 6081, hands the inner packets to one gwi-X interface per
 * GWLB endpoint, and sends what the kernel routes into gwo-X (or gwi-X) back to the GWLB with the flow's
 * GENEVE header, byte for byte. Packet I/O moves batches through slot buffers (native module); decoding,
 * the flow table and every decision stay here.
 */
export class Forwarder {
  readonly counters = new Counters()
  readonly flows: FlowTable
  private readonly info: FlowInfo = {gwlbAddress: 0, gwlbPort: 0, localAddress: 0, tunnel: 0}
  /** Live flows, counted once a second (a full scan of the table). */
  liveFlows = 0
  readonly tunnels: Tunnel[] = []
  private readonly io: Native
  private readonly batch: number
  private readonly packet = new GenevePacket()
  private readonly rx: Buffer
  private readonly rxMeta: Uint32Array
  private readonly tx: Buffer
  private readonly txLengths: Uint32Array
  private readonly outFds: Int32Array
  private readonly outOffsets: Uint32Array
  private readonly outLengths: Uint32Array
  private readonly outDestinations: Uint32Array
  private udpFd = -1
  private rawFd = -1
  private udpWatch?: Watch
  private timer?: NodeJS.Timeout
  private stopping = false

  constructor(private readonly options: ForwarderOptions) {
    this.io = native()
    this.batch = options.batch ?? 64
    this.flows = new FlowTable(options.maxFlows, options.flowTimeout)
    this.rx = Buffer.alloc(SLOT * this.batch)
    this.rxMeta = new Uint32Array(4 * this.batch)
    this.tx = Buffer.alloc(SLOT * this.batch)
    this.txLengths = new Uint32Array(this.batch)
    this.outFds = new Int32Array(this.batch)
    this.outOffsets = new Uint32Array(this.batch)
    this.outLengths = new Uint32Array(this.batch)
    this.outDestinations = new Uint32Array(this.batch)
  }

  /** Binds UDP 6081 and the raw return socket; traffic flows from here on. */
  start(): void {
    this.rawFd = this.io.openRaw(4 << 20)
    this.udpFd = this.io.openUdp(this.options.port ?? GENEVE_PORT, this.options.receiveBuffer ?? 8 << 20, false)
    this.udpWatch = this.io.watch(this.udpFd, () => this.receiveFromGwlb())
    this.timer = setInterval(() => this.housekeeping(), 1000)
  }

  /** Destroys every tunnel (running its hooks) and closes the sockets. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearInterval(this.timer)
    if (this.udpWatch) this.io.unwatch(this.udpWatch)
    await Promise.all(this.tunnels.map((t) => this.destroyTunnel(t)))
    for (const fd of [this.udpFd, this.rawFd]) if (fd >= 0) this.io.close(fd)
    this.udpFd = this.rawFd = -1
  }

  private receiveFromGwlb(): void {
    const {rx, rxMeta, packet, counters, flows, info} = this
    const count = this.io.recvUdpBatch(this.udpFd, rx, SLOT, HEADROOM, rxMeta, this.batch)
    if (count === 0) return
    const now = Date.now()
    const seconds = flowClock()
    let out = 0
    for (let i = 0; i < count; i++) {
      const offset = i * SLOT + HEADROOM
      const length = rxMeta[i * 4]!
      counters.traffic.packetsIn++
      counters.traffic.bytesIn += length
      if (length > SLOT - HEADROOM - 1) {
        counters.drop('oversize')
        continue
      }
      const reason = decodeGeneve(rx, offset, length, packet)
      if (reason) {
        counters.drop(reason)
        continue
      }
      if (!flows.keyOf(rx, packet.innerOffset, packet.innerLength)) {
        counters.drop('not-ip')
        continue
      }
      const tunnel = this.tunnelFor(packet.eniHigh, packet.eniLow)
      // Refreshed on every packet: cookies and GWLB nodes can change.
      info.gwlbAddress = rxMeta[i * 4 + 1]!
      info.gwlbPort = rxMeta[i * 4 + 2]!
      info.localAddress = rxMeta[i * 4 + 3]!
      info.tunnel = tunnel.index
      if (!flows.remember(seconds, rx, offset, packet.headerLength, info)) {
        counters.drop('header-too-long')
        continue
      }
      tunnel.traffic.packetsIn++
      tunnel.traffic.bytesIn += packet.innerLength
      tunnel.lastActivity = now
      if (tunnel.state !== 'up') {
        this.queue(tunnel, rx.subarray(packet.innerOffset, packet.innerOffset + packet.innerLength))
        continue
      }
      this.outFds[out] = tunnel.ingressFd
      this.outOffsets[out] = packet.innerOffset
      this.outLengths[out] = packet.innerLength
      out++
    }
    if (out > 0) {
      const written = this.io.writeTunBatch(this.outFds, rx, this.outOffsets, this.outLengths, out)
      if (written < out) counters.drop('tunnel-write-failed', out - written)
    }
  }

  /** Packets the kernel routed into one of the tunnel's interfaces: back to the GWLB, or dropped. */
  private returnToGwlb(tunnel: Tunnel, fd: number): void {
    const {tx, txLengths, counters, flows, info} = this
    const count = this.io.readTunBatch(fd, tx, SLOT, HEADROOM, txLengths, this.batch)
    if (count === 0) return
    tunnel.lastActivity = Date.now()
    const seconds = flowClock()
    let out = 0
    for (let i = 0; i < count; i++) {
      const offset = i * SLOT + HEADROOM
      const length = txLengths[i]!
      if (!flows.keyOf(tx, offset, length)) {
        counters.drop('not-ip')
        continue
      }
      const headerLength = flows.lookup(seconds, tx, offset, info)
      if (headerLength < 0) {
        // Only flows GWLB sent can go back: an appliance cannot start flows into GWLB. The kernel's own
        // IPv6 link-local chatter (MLD for ff02::2 once forwarding is on) is counted apart from real misses.
        counters.drop(isLinkLocalMulticast(tx, offset) ? 'link-local' : 'unknown-flow')
        continue
      }
      const start = offset - headerLength - OUTER_HEADER_LENGTH
      writeOuterHeaders(tx, start, headerLength + length, info.localAddress, info.gwlbAddress, info.gwlbPort, GENEVE_PORT)
      this.outOffsets[out] = start
      this.outLengths[out] = OUTER_HEADER_LENGTH + headerLength + length
      this.outDestinations[out] = info.gwlbAddress
      out++
      tunnel.traffic.packetsOut++
      tunnel.traffic.bytesOut += length
    }
    if (out === 0) return
    const sent = this.io.sendRawBatch(this.rawFd, tx, this.outOffsets, this.outLengths, this.outDestinations, out)
    counters.traffic.packetsOut += sent
    for (let i = 0; i < out; i++) counters.traffic.bytesOut += this.outLengths[i]! - OUTER_HEADER_LENGTH
    if (sent < out) counters.drop('send-failed', out - sent)
  }

  private tunnelFor(eniHigh: number, eniLow: number): Tunnel {
    for (const t of this.tunnels) if (t.eniLow === eniLow && t.eniHigh === eniHigh && t.state !== 'closing') return t
    const previous = this.tunnels.find((t) => t.eniLow === eniLow && t.eniHigh === eniHigh)
    const tunnel = new Tunnel(this.freeIndex(), eniHigh, eniLow, tunnelNames(eniHigh, eniLow))
    this.tunnels.push(tunnel)
    void this.createTunnel(tunnel, previous?.closed)
    return tunnel
  }

  private freeIndex(): number {
    const used = new Set(this.tunnels.map((t) => t.index))
    let i = 1
    while (used.has(i)) i++
    return i
  }

  private queue(tunnel: Tunnel, inner: Uint8Array): void {
    if (tunnel.state === 'failed') this.counters.drop('tunnel-failed')
    else if (tunnel.pending.length >= MAX_PENDING) this.counters.drop('tunnel-queue-full')
    else tunnel.pending.push(Buffer.from(inner))
  }

  private async createTunnel(tunnel: Tunnel, previousClosed?: Promise<void>): Promise<void> {
    await previousClosed
    try {
      tunnel.ingressFd = this.io.openTun(tunnel.ingress, false)
      tunnel.egressFd = this.io.openTun(tunnel.egress, false)
      for (const name of [tunnel.ingress, tunnel.egress]) {
        await quietIpv6(name)
        this.io.linkUp(name, TUNNEL_MTU)
      }
      await this.options.onTunnelUp(tunnel)
    } catch (error) {
      this.options.log(`tunnel ${tunnel.ingress}/${tunnel.egress} (eni-${tunnel.names.eniHex}) failed: ${(error as Error).message}`)
      this.counters.drop('tunnel-failed', tunnel.pending.length)
      tunnel.pending = []
      tunnel.state = 'failed'
      this.closeFds(tunnel)
      // Forget the failure after a while, so that the next packet tries again.
      setTimeout(() => this.forget(tunnel), 5000).unref()
      return
    }
    if (this.stopping) return
    tunnel.state = 'up'
    for (const fd of [tunnel.egressFd, tunnel.ingressFd]) tunnel.watches.push(this.io.watch(fd, () => this.returnToGwlb(tunnel, fd)))
    this.deliverPending(tunnel)
    this.options.log(`tunnel up: ${tunnel.ingress}/${tunnel.egress} for eni-${tunnel.names.eniHex}`)
  }

  private deliverPending(tunnel: Tunnel): void {
    const packets = tunnel.pending
    tunnel.pending = []
    if (packets.length === 0) return
    const all = Buffer.concat(packets)
    const fds = new Int32Array(packets.length).fill(tunnel.ingressFd)
    const offsets = new Uint32Array(packets.length)
    const lengths = new Uint32Array(packets.map((p) => p.length))
    for (let i = 1; i < packets.length; i++) offsets[i] = offsets[i - 1]! + lengths[i - 1]!
    const written = this.io.writeTunBatch(fds, all, offsets, lengths, packets.length)
    if (written < packets.length) this.counters.drop('tunnel-write-failed', packets.length - written)
  }

  /** Destroy hook and rules first (the interfaces still exist for them), then the interfaces go. */
  private destroyTunnel(tunnel: Tunnel): Promise<void> {
    if (tunnel.closed) return tunnel.closed
    const wasUp = tunnel.state === 'up'
    tunnel.state = 'closing'
    tunnel.closed = (async () => {
      for (const w of tunnel.watches) this.io.unwatch(w)
      tunnel.watches = []
      if (wasUp) {
        try {
          await this.options.onTunnelDown(tunnel)
        } catch (error) {
          this.options.log(`tunnel ${tunnel.ingress}: tear-down: ${(error as Error).message}`)
        }
      }
      this.closeFds(tunnel)
      this.forget(tunnel)
      if (wasUp) this.options.log(`tunnel down: ${tunnel.ingress}/${tunnel.egress}`)
    })()
    return tunnel.closed
  }

  private closeFds(tunnel: Tunnel): void {
    for (const fd of [tunnel.ingressFd, tunnel.egressFd]) if (fd >= 0) this.io.close(fd)
    tunnel.ingressFd = tunnel.egressFd = -1
  }

  private forget(tunnel: Tunnel): void {
    const i = this.tunnels.indexOf(tunnel)
    if (i >= 0) this.tunnels.splice(i, 1)
  }

  private housekeeping(): void {
    const now = Date.now()
    this.liveFlows = this.flows.count(flowClock())
    const idleMs = this.options.idleTimeout * 1000
    if (idleMs <= 0) return
    for (const t of this.tunnels) if (t.state === 'up' && now - t.lastActivity > idleMs) void this.destroyTunnel(t)
  }
}
