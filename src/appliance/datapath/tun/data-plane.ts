import {Ipv4Blocks} from '../../../cidr.js'
import {FlowTable, type FlowInfo} from './flow-table.js'
import {decodeGeneve, GenevePacket, OUTER_HEADER_LENGTH, writeOuterHeaders} from '../../geneve.js'
import {GENEVE_PORT, MAX_BATCH, MAX_SEGMENTS, RECV_FIELD, RECV_FIELD_COUNT} from '../../../generated/abi.js'
import {errnoOf, native, type Native, type Watch} from '../native.js'
import {SharedCounters, type CounterWriter} from './shared-counters.js'

/** Room before each packet for the outer IPv4/UDP headers and the largest GENEVE header (8 + 63*4 bytes). */
const HEADROOM = 320
/** Largest UDP payload on a 9001-byte jumbo-frame interface, rounded up: one packet from a tunnel. */
const TX_SLOT = HEADROOM + 9024
/** Largest UDP datagram, which GRO may make of several from one GWLB flow. */
const RX_SLOT = HEADROOM + 65536
/** What reading a TUN queue gives once its interface was deleted. */
const EBADFD = 77
/** Packets held per endpoint while its tunnel is being made. */
const MAX_PENDING = 256
/** Bytes held for all endpoints whose tunnels are being made (per worker): many new endpoints at once stay bounded. */
const MAX_PENDING_BYTES = 8 << 20

/** Seconds on a monotonic clock, shared by all threads of the process: the flow table's time. */
export const flowClock = () => Math.floor(performance.timeOrigin / 1000 + performance.now() / 1000)

/** What a worker is given by the main thread. */
export interface DataPlaneSetup {
  worker: number
  workers: number
  port: number
  batch: number
  receiveBuffer: number
  flowBuffer: SharedArrayBuffer
  maxFlows: number
  flowTimeout: number
  countersBuffer: SharedArrayBuffer
  gso: boolean
  /** Take GRO-merged datagrams from the socket (not beside the BPF path, which GRO would bypass for bulk flows). */
  udpGro: boolean
  /** GENEVE is taken only from these IPv4 blocks ([network, mask] pairs, host order); absent: from anywhere. */
  allowedSources?: Uint32Array
}

/** Messages between the main thread (control) and a worker (data plane). */
export type ToWorker =
  | {type: 'tunnel-up'; eniHigh: number; eniLow: number; index: number; generation: number; ingressFd: number; egressFd: number}
  | {type: 'tunnel-failed'; eniHigh: number; eniLow: number; reason: 'tunnel-failed' | 'tunnel-limit'}
  /** Whether the tunnel table is full: while it is, packets of endpoints without a tunnel are dropped here, unasked. */
  | {type: 'capacity'; full: boolean}
  | {type: 'tunnel-down'; index: number}
  | {type: 'stop'}
export type FromWorker =
  | {type: 'ready'; worker: number}
  | {type: 'failed'; worker: number; errno: number; message: string}
  | {type: 'need-tunnel'; eniHigh: number; eniLow: number}
  | {type: 'tunnel-released'; worker: number; index: number}
  | {type: 'tunnel-lost'; index: number; generation: number}
  | {type: 'stopped'; worker: number}

interface WorkerTunnel {
  eniHigh: number
  eniLow: number
  index: number
  /** Which making of the pair: an index is used again once its pair is gone, a generation never is. */
  generation: number
  ingressFd: number
  watches: Watch[]
}

interface Pending {
  eniHigh: number
  eniLow: number
  packets: Buffer[]
}

/**
 * One worker's share of the GENEVE forwarder: its own SO_REUSEPORT socket on UDP 6081, its own queue of
 * every tunnel interface, its own raw socket back to the GWLB; the flow table is shared by all workers, so
 * a reply found on any worker's queue goes back with its request's header. Packets move in batches through
 * slot buffers (native module); decoding and every decision happen here, with no per-packet allocation.
 */
export class DataPlane {
  private readonly io: Native = native()
  private readonly packet = new GenevePacket()
  private readonly flows: FlowTable
  private readonly counters: CounterWriter
  private readonly info: FlowInfo = {gwlbAddress: 0, gwlbPort: 0, localAddress: 0, tunnel: 0, worker: 0}
  private readonly rx: Buffer
  private readonly rxMeta: Uint32Array
  private readonly tx: Buffer
  private readonly txLengths: Uint32Array
  /** Inner packets from the GWLB waiting to be written into their tunnels (offsets into rx), a batch call's worth. */
  private readonly toTunnels = {fds: new Int32Array(MAX_BATCH), offsets: new Uint32Array(MAX_BATCH), lengths: new Uint32Array(MAX_BATCH), count: 0}
  private readonly outOffsets: Uint32Array
  private readonly outLengths: Uint32Array
  private readonly outDestinations: Uint32Array
  private readonly coalesced = new Uint32Array(1)
  private readonly splitFailed = new Uint32Array(1)
  private readonly tunnels: WorkerTunnel[] = []
  private readonly pending: Pending[] = []
  private pendingBytes = 0
  private readonly allowedSources?: Ipv4Blocks
  private full = false
  /** Endpoints whose tunnel went down while the table was full: their own slot is being freed, so they still ask. */
  private readonly returning = new Set<string>()
  private udpFd = -1
  private rawFd = -1
  private udpWatch?: Watch

  constructor(
    private readonly setup: DataPlaneSetup,
    private readonly send: (message: FromWorker) => void,
  ) {
    this.flows = new FlowTable(setup.maxFlows, setup.flowTimeout, setup.flowBuffer)
    if (setup.allowedSources) this.allowedSources = new Ipv4Blocks(setup.allowedSources)
    this.counters = new SharedCounters(setup.workers, setup.countersBuffer).writer(setup.worker)
    const batch = setup.batch
    // Not zeroed: the kernel fills what is read, and most of each 64 KB slot is never touched (nor resident).
    this.rx = Buffer.allocUnsafeSlow(RX_SLOT * batch)
    this.rxMeta = new Uint32Array(RECV_FIELD_COUNT * batch)
    // A GSO packet read from a tunnel is cut into the slots after its own: room for a last one of them all.
    const returning = batch + MAX_SEGMENTS
    this.tx = Buffer.alloc(TX_SLOT * returning)
    this.txLengths = new Uint32Array(returning)
    this.outOffsets = new Uint32Array(returning)
    this.outLengths = new Uint32Array(returning)
    this.outDestinations = new Uint32Array(returning)
  }

  start(): void {
    try {
      this.rawFd = this.io.openRaw(4 << 20)
      this.udpFd = this.io.openUdp(this.setup.port, this.setup.receiveBuffer, this.setup.workers, this.setup.udpGro)
    } catch (error) {
      this.closeSockets()
      const e = error as Error & {code?: string}
      this.send({type: 'failed', worker: this.setup.worker, errno: Number(e.code), message: e.message})
      return
    }
    this.udpWatch = this.io.watch(this.udpFd, () => this.receiveFromGwlb())
    this.send({type: 'ready', worker: this.setup.worker})
  }

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'tunnel-up':
        return this.tunnelUp(message)
      case 'tunnel-failed':
        return this.dropPending(message.eniHigh, message.eniLow, message.reason)
      case 'capacity':
        this.full = message.full
        if (!this.full) this.returning.clear()
        return
      case 'tunnel-down':
        return this.tunnelDown(message.index)
      case 'stop':
        for (const t of [...this.tunnels]) this.tunnelDown(t.index)
        if (this.udpWatch) this.io.unwatch(this.udpWatch)
        this.closeSockets()
        return this.send({type: 'stopped', worker: this.setup.worker})
    }
  }

  private receiveFromGwlb(): void {
    const {rx, rxMeta, counters} = this
    const stride = RECV_FIELD_COUNT
    const count = this.io.recvUdpBatch(this.udpFd, rx, RX_SLOT, HEADROOM, rxMeta, this.setup.batch)
    if (count === 0) return
    const now = flowClock()
    const allowed = this.allowedSources
    for (let i = 0; i < count; i++) {
      const m = i * stride
      const start = i * RX_SLOT + HEADROOM
      const length = rxMeta[m + RECV_FIELD.length]!
      // Only the GWLB's own addresses may send: anything else is not even decoded.
      if (allowed && !allowed.has(rxMeta[m + RECV_FIELD.senderAddress]!)) {
        counters.received(length)
        counters.drop('source-not-allowed')
        continue
      }
      if (length >= RX_SLOT - HEADROOM) {
        counters.received(length)
        counters.drop('oversize')
        continue
      }
      // GRO (on the NIC) may have merged datagrams of one GWLB flow: each segment is a GENEVE packet of its own.
      const segment = rxMeta[m + RECV_FIELD.segment]! || length
      if (segment < length) counters.groMerged(Math.ceil(length / segment))
      const end = start + length
      let at = start
      do {
        this.fromGwlb(at, Math.min(segment, end - at), m, now) // once for an empty datagram too (truncated)
        at += segment
      } while (at < end)
    }
    this.flushToTunnels()
    counters.evictions(this.flows.evictions) // once a batch: the flow table counts, the counters publish
  }

  /** One GENEVE packet from the GWLB (meta at rxMeta[m]): decoded, its flow remembered, its inner packet queued. */
  private fromGwlb(offset: number, length: number, m: number, now: number): void {
    const {rx, rxMeta, packet, counters, flows, info, toTunnels} = this
    counters.received(length)
    const reason = decodeGeneve(rx, offset, length, packet)
    if (reason) return counters.drop(reason)
    if (!flows.keyOf(rx, packet.innerOffset, packet.innerLength)) return counters.drop('not-ip')
    const tunnel = this.tunnelFor(packet.eniHigh, packet.eniLow)
    // Refreshed on every packet: cookies and GWLB nodes can change.
    info.gwlbAddress = rxMeta[m + RECV_FIELD.senderAddress]!
    info.gwlbPort = rxMeta[m + RECV_FIELD.senderPort]!
    info.localAddress = rxMeta[m + RECV_FIELD.localAddress]!
    info.tunnel = tunnel ? tunnel.index : 0
    info.worker = this.setup.worker
    if (!flows.remember(now, rx, offset, packet.headerLength, info)) return counters.drop('header-too-long')
    if (!tunnel) return this.queue(packet.eniHigh, packet.eniLow, rx.subarray(packet.innerOffset, packet.innerOffset + packet.innerLength))
    counters.tunnelIn(tunnel.index, packet.innerLength, now)
    const k = toTunnels.count++
    toTunnels.fds[k] = tunnel.ingressFd
    toTunnels.offsets[k] = packet.innerOffset
    toTunnels.lengths[k] = packet.innerLength
    if (toTunnels.count === toTunnels.fds.length) this.flushToTunnels()
  }

  private flushToTunnels(): void {
    const {fds, offsets, lengths, count} = this.toTunnels
    if (count > 0) this.writeTunnels(fds, this.rx, offsets, lengths, count)
    this.toTunnels.count = 0
  }

  private writeTunnels(fds: Int32Array, buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): void {
    const written = this.io.writeTunBatch(fds, buf, offsets, lengths, count, this.setup.gso, this.coalesced)
    this.counters.coalesced(this.coalesced[0]!)
    if (written < count) this.counters.drop('tunnel-write-failed', count - written)
  }

  /** Packets the kernel routed into this worker's queue of a tunnel interface: back to the GWLB, or dropped. */
  private returnToGwlb(tunnel: WorkerTunnel, fd: number): void {
    const {tx, txLengths, counters, flows, info} = this
    const count = this.io.readTunBatch(fd, tx, TX_SLOT, HEADROOM, txLengths, this.setup.batch, this.splitFailed)
    if (this.splitFailed[0]) counters.drop('gso-split-failed', this.splitFailed[0])
    if (count === 0) return
    const now = flowClock()
    let out = 0
    let bytes = 0
    for (let i = 0; i < count; i++) {
      const offset = i * TX_SLOT + HEADROOM
      const length = txLengths[i]!
      if (!flows.keyOf(tx, offset, length)) {
        counters.drop('not-ip')
        continue
      }
      const headerLength = flows.lookup(now, tx, offset, info)
      if (headerLength < 0) {
        // Only flows GWLB sent can go back: an appliance cannot start flows into GWLB. The kernel's own
        // IPv6 link-local chatter (MLD for ff02::2 once forwarding is on) is counted apart from real misses.
        counters.drop(isLinkLocalMulticast(tx, offset) ? 'link-local' : 'unknown-flow')
        continue
      }
      if (info.worker !== this.setup.worker) counters.crossWorker()
      const start = offset - headerLength - OUTER_HEADER_LENGTH
      writeOuterHeaders(tx, start, headerLength + length, info.localAddress, info.gwlbAddress, info.gwlbPort, GENEVE_PORT)
      this.outOffsets[out] = start
      this.outLengths[out] = OUTER_HEADER_LENGTH + headerLength + length
      this.outDestinations[out] = info.gwlbAddress
      bytes += length
      counters.tunnelOut(tunnel.index, length, now)
      out++
    }
    if (out === 0) return
    const sent = this.io.sendRawBatch(this.rawFd, tx, this.outOffsets, this.outLengths, this.outDestinations, out)
    counters.sent(sent, bytes)
    if (sent < out) counters.drop('send-failed', out - sent)
  }

  private tunnelReadable(tunnel: WorkerTunnel, fd: number, status: number): void {
    try {
      if (status >= 0) return this.returnToGwlb(tunnel, fd)
    } catch (error) {
      if (errnoOf(error) !== EBADFD) throw error
    }
    // The interface is gone (deleted by hand): stop watching its queues, and let the main thread take it down.
    for (const w of tunnel.watches.splice(0)) this.io.unwatch(w)
    this.send({type: 'tunnel-lost', index: tunnel.index, generation: tunnel.generation})
  }

  private tunnelFor(eniHigh: number, eniLow: number): WorkerTunnel | undefined {
    for (const t of this.tunnels) if (t.eniLow === eniLow && t.eniHigh === eniHigh) return t
    return undefined
  }

  /** First packets of an endpoint without a tunnel wait here; the first one asks the main thread for it. */
  private queue(eniHigh: number, eniLow: number, inner: Uint8Array): void {
    let p = this.pending.find((x) => x.eniLow === eniLow && x.eniHigh === eniHigh)
    if (!p) {
      if (this.full && !this.returning.delete(eniKey(eniHigh, eniLow))) return this.counters.drop('tunnel-limit')
      p = {eniHigh, eniLow, packets: []}
      this.pending.push(p)
      this.send({type: 'need-tunnel', eniHigh, eniLow})
    }
    if (p.packets.length >= MAX_PENDING || this.pendingBytes + inner.length > MAX_PENDING_BYTES) return this.counters.drop('tunnel-queue-full')
    p.packets.push(Buffer.from(inner))
    this.pendingBytes += inner.length
  }

  /** What waited for a tunnel, taken out of the queue. */
  private takePending(eniHigh: number, eniLow: number): Buffer[] | undefined {
    const i = this.pending.findIndex((x) => x.eniLow === eniLow && x.eniHigh === eniHigh)
    if (i < 0) return undefined
    const {packets} = this.pending.splice(i, 1)[0]!
    for (const packet of packets) this.pendingBytes -= packet.length
    return packets
  }

  private tunnelUp(m: Extract<ToWorker, {type: 'tunnel-up'}>): void {
    const tunnel: WorkerTunnel = {eniHigh: m.eniHigh, eniLow: m.eniLow, index: m.index, generation: m.generation, ingressFd: m.ingressFd, watches: []}
    for (const fd of [m.egressFd, m.ingressFd]) tunnel.watches.push(this.io.watch(fd, (status) => this.tunnelReadable(tunnel, fd, status)))
    this.tunnels.push(tunnel)
    const packets = this.takePending(m.eniHigh, m.eniLow)
    if (!packets) return
    const all = Buffer.concat(packets)
    const offsets = new Uint32Array(packets.length)
    const lengths = new Uint32Array(packets.map((p) => p.length))
    for (let k = 1; k < packets.length; k++) offsets[k] = offsets[k - 1]! + lengths[k - 1]!
    const now = flowClock()
    for (const p of packets) this.counters.tunnelIn(tunnel.index, p.length, now)
    this.writeTunnels(new Int32Array(packets.length).fill(tunnel.ingressFd), all, offsets, lengths, packets.length)
  }

  /** The tunnel could not be made (or there is no room for it): what waited for it is dropped. */
  private dropPending(eniHigh: number, eniLow: number, reason: 'tunnel-failed' | 'tunnel-limit'): void {
    const packets = this.takePending(eniHigh, eniLow)
    if (packets) this.counters.drop(reason, packets.length)
  }

  /** Stops using a tunnel's queues (the main thread closes them once every worker has let go). */
  private tunnelDown(index: number): void {
    const i = this.tunnels.findIndex((t) => t.index === index)
    if (i >= 0) {
      const [tunnel] = this.tunnels.splice(i, 1)
      for (const w of tunnel!.watches) this.io.unwatch(w)
      if (this.full) this.returning.add(eniKey(tunnel!.eniHigh, tunnel!.eniLow))
    }
    this.send({type: 'tunnel-released', worker: this.setup.worker, index})
  }

  private closeSockets(): void {
    for (const fd of [this.udpFd, this.rawFd]) if (fd >= 0) this.io.close(fd)
    this.udpFd = this.rawFd = -1
  }
}

const eniKey = (eniHigh: number, eniLow: number): string => `${eniHigh}:${eniLow}`

/** IPv6 to ff02::/16: never part of a flow, never meant for the GWLB. */
function isLinkLocalMulticast(buf: Uint8Array, p: number): boolean {
  return buf[p]! >> 4 === 6 && buf[p + 24] === 0xff && (buf[p + 25]! & 0x0f) === 0x02
}
