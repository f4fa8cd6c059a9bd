import {portsOffset} from '../../inner-packet.js'
import {MAX_HEADER} from '../../../generated/abi.js'

/**
 * Flows seen from the GWLB, keyed by the inner packet's protocol, addresses and ports (ordered so that a
 * reply finds its request), holding what the return path needs: the GENEVE header to send back byte for
 * byte, the GWLB node's address and port, and the local address it was sent to.
 *
 * An open-addressing hash table in one SharedArrayBuffer: no allocation per packet, a fixed memory cost set
 * by the flow bound, and shareable between worker threads (each slot has its own lock word). Expired slots
 * are re-used on sight; when a probe window is full, its least recently seen flow gives way.
 */

const MAX_KEY = 37 // protocol + 2 × (16-byte address + 2-byte port)
/** Bytes of one flow entry (key, header, times), a power of two so that entries never straddle cache lines. */
const ENTRY_BYTES = 128
const PROBES = 16

// Slot layout (bytes): 0 lock, 4 last seen (seconds), 8 GWLB address, 12 local address, 16 GWLB port,
// 18 tunnel index, 19 worker, 20 key length (0 = never used), 21 header length, 22 key, 64 header.
const LOCK = 0
const SEEN = 4
const GWLB = 8
const LOCAL = 12
const PORT = 16
const TUNNEL = 18
const WORKER = 19
const KEY_LENGTH = 20
const HEADER_LENGTH = 21
const KEY = 22
const HEADER = 64

/** What a lookup found besides the header. */
export interface FlowInfo {
  gwlbAddress: number
  gwlbPort: number
  localAddress: number
  tunnel: number
  /** The worker thread that received the flow's last packet from the GWLB. */
  worker: number
}

export class FlowTable {
  readonly buffer: SharedArrayBuffer
  readonly capacity: number
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private readonly words: Int32Array
  private readonly key = new Uint8Array(MAX_KEY)
  private keyLength = 0
  private readonly timeout: number
  /** Live flows this table (this thread) pushed out to make room for a new one. */
  evictions = 0

  /**
   * `maxFlows` is the bound: one slot a flow, never more flows than that (a full probe window evicts its least
   * recently seen flow, counted in `evictions`, before the table as a whole is full). Pass `buffer` to share
   * another thread's table.
   */
  constructor(maxFlows: number, timeoutSeconds: number, buffer?: SharedArrayBuffer) {
    this.capacity = Math.max(PROBES, maxFlows)
    this.buffer = buffer ?? new SharedArrayBuffer(this.capacity * ENTRY_BYTES)
    this.bytes = new Uint8Array(this.buffer)
    this.view = new DataView(this.buffer)
    this.words = new Int32Array(this.buffer)
    this.timeout = timeoutSeconds
  }

  /**
   * Reads the flow key of the IP packet at buf[p, p+length) into the table's scratch key; false if it is not
   * a whole IPv4/IPv6 header. Non-first fragments and port-less protocols (ICMP…) key on addresses only.
   */
  keyOf(buf: Uint8Array, p: number, length: number): boolean {
    const version = length > 0 ? buf[p]! >> 4 : 0
    if (version === 4 && length >= 20) {
      this.buildKey(buf, buf[p + 9]!, p + 12, p + 16, 4, portsOffset(buf, p, length))
      return true
    }
    if (version === 6 && length >= 40) {
      this.buildKey(buf, buf[p + 6]!, p + 8, p + 24, 16, portsOffset(buf, p, length))
      return true
    }
    return false
  }

  /** The scratch key as hex (for tests). */
  get keyHex(): string {
    return Buffer.from(this.key.subarray(0, this.keyLength)).toString('hex')
  }

  /** Records or refreshes the flow of the current key with the header at header[offset, offset+length). */
  remember(now: number, header: Uint8Array, offset: number, length: number, info: FlowInfo): boolean {
    if (length > MAX_HEADER) return false
    const slot = this.findSlot(now, true)
    const base = slot * ENTRY_BYTES
    this.lock(slot)
    const v = this.view
    v.setUint32(base + SEEN, now)
    v.setUint32(base + GWLB, info.gwlbAddress)
    v.setUint32(base + LOCAL, info.localAddress)
    v.setUint16(base + PORT, info.gwlbPort)
    const bytes = this.bytes
    bytes[base + TUNNEL] = info.tunnel
    bytes[base + WORKER] = info.worker
    bytes[base + KEY_LENGTH] = this.keyLength
    bytes[base + HEADER_LENGTH] = length
    // Byte loops, not set(subarray()): no view object per packet.
    for (let i = 0; i < this.keyLength; i++) bytes[base + KEY + i] = this.key[i]!
    for (let i = 0; i < length; i++) bytes[base + HEADER + i] = header[offset + i]!
    this.unlock(slot)
    return true
  }

  /**
   * Finds the live flow of the current key, refreshes it, copies its header to end at dst[end] and fills
   * `info`. Returns the header length, or -1 when there is no such flow.
   */
  lookup(now: number, dst: Uint8Array, end: number, info: FlowInfo): number {
    const slot = this.findSlot(now, false)
    if (slot < 0) return -1
    const base = slot * ENTRY_BYTES
    this.lock(slot)
    const v = this.view
    // Re-check under the lock: another thread may have re-used the slot since the search.
    if (!this.keyMatches(base) || now - v.getUint32(base + SEEN) > this.timeout) {
      this.unlock(slot)
      return -1
    }
    v.setUint32(base + SEEN, now)
    const bytes = this.bytes
    const length = bytes[base + HEADER_LENGTH]!
    for (let i = 0, to = end - length; i < length; i++) dst[to + i] = bytes[base + HEADER + i]!
    info.gwlbAddress = v.getUint32(base + GWLB)
    info.localAddress = v.getUint32(base + LOCAL)
    info.gwlbPort = v.getUint16(base + PORT)
    info.tunnel = bytes[base + TUNNEL]!
    info.worker = bytes[base + WORKER]!
    this.unlock(slot)
    return length
  }

  /** Live flows (a full scan: for the health report, not the hot path). */
  count(now: number): number {
    let live = 0
    for (let slot = 0; slot < this.capacity; slot++) if (this.isLive(slot * ENTRY_BYTES, now)) live++
    return live
  }

  private buildKey(buf: Uint8Array, protocol: number, src: number, dst: number, size: number, ports: number): void {
    // Order the two ends so that both directions of a flow give the same key.
    let order = 0
    for (let i = 0; i < size && order === 0; i++) order = buf[src + i]! - buf[dst + i]!
    if (order === 0 && ports >= 0) order = ((buf[ports]! << 8) | buf[ports + 1]!) - ((buf[ports + 2]! << 8) | buf[ports + 3]!)
    const a = order <= 0 ? src : dst
    const b = order <= 0 ? dst : src
    const pa = order <= 0 ? ports : ports + 2
    const pb = order <= 0 ? ports + 2 : ports
    const k = this.key
    k[0] = protocol
    let n = 1
    for (let i = 0; i < size; i++) k[n++] = buf[a + i]!
    if (ports >= 0) {
      k[n++] = buf[pa]!
      k[n++] = buf[pa + 1]!
    }
    for (let i = 0; i < size; i++) k[n++] = buf[b + i]!
    if (ports >= 0) {
      k[n++] = buf[pb]!
      k[n++] = buf[pb + 1]!
    }
    this.keyLength = n
  }

  private hash(): number {
    let h = 0x811c9dc5
    for (let i = 0; i < this.keyLength; i++) h = Math.imul(h ^ this.key[i]!, 0x01000193)
    return h >>> 0
  }

  private keyMatches(base: number): boolean {
    if (this.bytes[base + KEY_LENGTH] !== this.keyLength) return false
    for (let i = 0; i < this.keyLength; i++) if (this.bytes[base + KEY + i] !== this.key[i]) return false
    return true
  }

  private isLive(base: number, now: number): boolean {
    return this.bytes[base + KEY_LENGTH] !== 0 && now - this.view.getUint32(base + SEEN) <= this.timeout
  }

  /**
   * The slot of the current key within its probe window; for an insert, else the first free or expired
   * slot, else the least recently seen one (an eviction). -1 when looking up a key that is not there.
   */
  private findSlot(now: number, forInsert: boolean): number {
    const {capacity} = this
    // The 32-bit hash scaled onto the slots (any table size, no modulo).
    const start = Math.floor(((this.hash() >>> 0) * capacity) / 2 ** 32)
    let reusable = -1
    let oldest = -1
    let oldestSeen = Infinity
    for (let i = 0; i < PROBES; i++) {
      const slot = start + i < capacity ? start + i : start + i - capacity
      const base = slot * ENTRY_BYTES
      if (this.bytes[base + KEY_LENGTH] === 0) return forInsert ? (reusable >= 0 ? reusable : slot) : -1
      if (this.keyMatches(base)) return slot
      if (!forInsert) continue
      const seen = this.view.getUint32(base + SEEN)
      if (reusable < 0 && now - seen > this.timeout) reusable = slot
      if (seen < oldestSeen) {
        oldestSeen = seen
        oldest = slot
      }
    }
    if (!forInsert) return -1
    if (reusable >= 0) return reusable
    this.evictions++
    return oldest
  }

  private lock(slot: number): void {
    const i = (slot * ENTRY_BYTES + LOCK) >> 2
    while (Atomics.compareExchange(this.words, i, 0, 1) !== 0) {
      // another worker is writing this slot: it takes nanoseconds
    }
  }

  private unlock(slot: number): void {
    Atomics.store(this.words, (slot * ENTRY_BYTES + LOCK) >> 2, 0)
  }
}
