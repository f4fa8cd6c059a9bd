import {DECODER_DROP_REASONS} from '../../geneve.js'
import {MAX_TUNNELS} from '../../../generated/abi.js'
import {FORWARD_DROP_REASONS, emptyTraffic, type AnyDropReason, type TrafficCounters} from '../../counters.js'


const REASONS: readonly AnyDropReason[] = [...DECODER_DROP_REASONS, ...FORWARD_DROP_REASONS]
const TRAFFIC = 4 // packets in, bytes in, packets out, bytes out
/** Flows whose reply was read by another worker than the one that received the request. */
const CROSS = TRAFFIC + REASONS.length
/** Packets that went into a tunnel inside a GSO packet with others of their flow. */
const COALESCED = CROSS + 1
/** GENEVE packets that arrived merged by GRO with others of their GWLB flow. */
const GRO = COALESCED + 1
/** Live flows pushed out of the flow table to make room (a worker's running total). */
const EVICTED = GRO + 1
const TUNNELS = EVICTED + 1
const PER_WORKER = TUNNELS + (MAX_TUNNELS + 1) * TRAFFIC

/**
 * Counters every worker writes in its own region of one SharedArrayBuffer (no two threads write the same
 * number), which the main thread adds up for the health report and metrics. Also the last second each
 * tunnel saw traffic, for the idle timeout.
 */
export class SharedCounters {
  readonly buffer: SharedArrayBuffer
  private readonly numbers: Float64Array
  private readonly activity: Int32Array

  constructor(
    readonly workers: number,
    buffer?: SharedArrayBuffer,
  ) {
    const countersBytes = workers * PER_WORKER * 8
    this.buffer = buffer ?? new SharedArrayBuffer(countersBytes + (MAX_TUNNELS + 1) * 4)
    this.numbers = new Float64Array(this.buffer, 0, workers * PER_WORKER)
    this.activity = new Int32Array(this.buffer, countersBytes, MAX_TUNNELS + 1)
  }

  /** A worker's writer: its own region only. */
  writer(worker: number): CounterWriter {
    return new CounterWriter(this.numbers, this.activity, worker * PER_WORKER)
  }

  /** None: on the TUN path every packet crosses this process. */
  kernelTraffic(): TrafficCounters {
    return emptyTraffic()
  }

  traffic(): TrafficCounters {
    return this.sum((base) => base)
  }

  tunnelTraffic(index: number): TrafficCounters {
    return this.sum((base) => base + TUNNELS + index * TRAFFIC)
  }

  drops(): Record<AnyDropReason, number> {
    return Object.fromEntries(REASONS.map((reason, r) => [reason, this.total((base) => base + TRAFFIC + r)])) as Record<AnyDropReason, number>
  }

  crossWorkerReplies(): number {
    return this.total((base) => base + CROSS)
  }

  coalesced(): number {
    return this.total((base) => base + COALESCED)
  }

  groMerged(): number {
    return this.total((base) => base + GRO)
  }

  evictions(): number {
    return this.total((base) => base + EVICTED)
  }

  /** Second (on the flow clock) of a tunnel's last packet, either way. */
  lastActivity(index: number): number {
    return Atomics.load(this.activity, index)
  }

  /** A new tunnel at this index starts from zero. */
  resetTunnel(index: number, now: number): void {
    for (let w = 0; w < this.workers; w++) this.numbers.fill(0, w * PER_WORKER + TUNNELS + index * TRAFFIC, w * PER_WORKER + TUNNELS + (index + 1) * TRAFFIC)
    Atomics.store(this.activity, index, now)
  }

  private total(at: (base: number) => number): number {
    let n = 0
    for (let w = 0; w < this.workers; w++) n += this.numbers[at(w * PER_WORKER)]!
    return n
  }

  private sum(at: (base: number) => number): TrafficCounters {
    const t = emptyTraffic()
    t.packetsIn = this.total(at)
    t.bytesIn = this.total((b) => at(b) + 1)
    t.packetsOut = this.total((b) => at(b) + 2)
    t.bytesOut = this.total((b) => at(b) + 3)
    return t
  }
}

export class CounterWriter {
  constructor(
    private readonly numbers: Float64Array,
    private readonly activity: Int32Array,
    private readonly base: number,
  ) {}

  received(bytes: number): void {
    this.numbers[this.base]!++
    this.numbers[this.base + 1]! += bytes
  }

  sent(packets: number, bytes: number): void {
    this.numbers[this.base + 2]! += packets
    this.numbers[this.base + 3]! += bytes
  }

  drop(reason: AnyDropReason, count = 1): void {
    this.numbers[this.base + TRAFFIC + REASONS.indexOf(reason)]! += count
  }

  crossWorker(): void {
    this.numbers[this.base + CROSS]!++
  }

  coalesced(packets: number): void {
    this.numbers[this.base + COALESCED]! += packets
  }

  groMerged(packets: number): void {
    this.numbers[this.base + GRO]! += packets
  }

  /** The worker's flow table's eviction total (its own count: set, not added). */
  evictions(total: number): void {
    this.numbers[this.base + EVICTED] = total
  }

  tunnelIn(index: number, bytes: number, now: number): void {
    const at = this.base + TUNNELS + index * TRAFFIC
    this.numbers[at]!++
    this.numbers[at + 1]! += bytes
    Atomics.store(this.activity, index, now)
  }

  tunnelOut(index: number, bytes: number, now: number): void {
    const at = this.base + TUNNELS + index * TRAFFIC
    this.numbers[at + 2]!++
    this.numbers[at + 3]! += bytes
    Atomics.store(this.activity, index, now)
  }
}
