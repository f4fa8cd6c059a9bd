import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import type {Ipv4Blocks} from '../../../cidr.js'
import type {AnyDropReason, TrafficCounters} from '../../counters.js'
import {native, PACKAGE_ROOT, type Native} from '../native.js'
import {COUNTER_LAYOUT, KERNEL_DROP_REASONS, MAX_SOURCES, PER_TUNNEL, SETTINGS_LAYOUT, SOURCE_PREFIX_LAYOUT, STATS_DROPS, STATS_NEW_FLOWS, TUNNEL_LAYOUT} from '../../../generated/abi.js'

/** Built from native/bpf/gwlb.bpf.c by `npm run build`, shipped in the package. */
export const BPF_OBJECT = join(PACKAGE_ROOT, 'prebuilds', 'bpf', 'gwlb.bpf.o')
/** gwlb's tc filters have this priority on every interface ('gw'): found, replaced and removed by it alone. */
export const TC_PRIORITY = 0x6777

// The maps' layouts are native/include/gwlb_abi.h's (numbers in host order: x64 and arm64 are little-endian).

export interface FastPathSettings {
  /** The interface GENEVE arrives on (and leaves by). */
  device: string
  port: number
  maxFlows: number
  /** Seconds without a packet after which a flow no longer counts as live. */
  flowTimeout: number
  /** GENEVE only from these blocks; absent: from anywhere. */
  allowedSources?: Ipv4Blocks
  /** Told when this run makes the clsact qdisc on the device, and when it removes it: for the next run after a crash. */
  recordClsact(device: string | undefined): Promise<void>
}

/** What the fast path is told of a tunnel. */
export interface FastTunnel {
  readonly index: number
  readonly eniHigh: number
  readonly eniLow: number
  readonly ingress: string
  readonly egress: string
}

const ifindex = (device: string) => Number(readFileSync(`/sys/class/net/${device}/ifindex`, 'utf8'))
const nowNs = () => Number(process.hrtime.bigint()) // CLOCK_MONOTONIC, as bpf_ktime_get_ns

/** CPUs the kernel may have (a per-CPU map's value has one slot each): /sys/devices/system/cpu/possible, e.g. "0-3". */
function possibleCpus(): number {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim()
  return Math.max(availableParallelism(), ...text.split(',').map((range) => Number(range.split('-').at(-1)) + 1))
}

/**
 * The in-kernel GENEVE path (native/bpf/gwlb.bpf.c) as the control side sees it: loads the object, attaches
 * its ingress program to the GWLB's interface and its egress program to each tunnel's interfaces, tells it
 * which endpoints have tunnels, and reads its counters, activity and flows.
 */
export class FastPath {
  private readonly io: Native = native()
  private readonly cpus = possibleCpus()
  private readonly counter = Buffer.alloc(COUNTER_LAYOUT.size * this.cpus)
  private readonly indexKey = Buffer.alloc(4)
  private madeClsact = false
  private counted = {at: -Infinity, live: 0, held: 0}

  private constructor(
    private readonly settings: FastPathSettings,
    private readonly maps: Record<string, number>,
    private readonly programs: Record<string, number>,
    private readonly device: number,
  ) {}

  /** Loads and attaches; throws (errno-coded, or with the verifier's words) when this kernel cannot. */
  static async open(settings: FastPathSettings): Promise<FastPath> {
    const io = native()
    const object = await readFile(BPF_OBJECT).catch(() => {
      throw new Error(`${BPF_OBJECT} is missing (this package was built without clang)`)
    })
    const device = ifindex(settings.device)
    const {maps, programs} = io.bpfLoad(object, settings.maxFlows)
    const path = new FastPath(settings, maps, programs, device)
    try {
      path.configure()
      path.madeClsact = io.tcAttach(device, false, TC_PRIORITY, programs['tc/ingress']!, 'gwlb_ingress')
    } catch (error) {
      path.closeFds()
      throw error
    }
    if (path.madeClsact) await settings.recordClsact(settings.device)
    return path
  }

  /**
   * Removes the program a run that died left attached to the interface (its maps go with it), and the clsact
   * qdisc if that run made it. True if there was a program.
   */
  static undoLeftovers(device: string, madeClsact: boolean): boolean {
    return native().tcDetach(ifindex(device), false, TC_PRIORITY, madeClsact)
  }

  private configure(): void {
    const {port, allowedSources} = this.settings
    const config = Buffer.alloc(SETTINGS_LAYOUT.size)
    config.writeUInt32LE(this.device, SETTINGS_LAYOUT.ifindex.offset)
    config.writeUInt16BE(port, SETTINGS_LAYOUT.port.offset)
    config.writeUInt16LE(allowedSources ? 1 : 0, SETTINGS_LAYOUT.checkSources.offset)
    this.io.bpfMap('update', this.maps.config!, Buffer.alloc(4), config)
    const blocks = allowedSources?.blocks ?? new Uint32Array()
    if (blocks.length / 2 > MAX_SOURCES) throw new Error(`--allowed-sources has ${blocks.length / 2} blocks, and the kernel path takes ${MAX_SOURCES} at most`)
    for (let i = 0; i < blocks.length; i += 2) {
      const prefix = Buffer.alloc(SOURCE_PREFIX_LAYOUT.size)
      prefix.writeUInt32LE(popcount(blocks[i + 1]!), SOURCE_PREFIX_LAYOUT.length.offset)
      prefix.writeUInt32BE(blocks[i]!, SOURCE_PREFIX_LAYOUT.address.offset)
      this.io.bpfMap('update', this.maps.sources!, prefix, Buffer.from([1]))
    }
  }

  /** The tunnel's packets go through the kernel from now on: egress programs on its interfaces, then its endpoint in the map. */
  addTunnel(tunnel: FastTunnel): void {
    const program = this.programs['tc/egress']!
    for (const name of [tunnel.ingress, tunnel.egress]) this.io.tcAttach(ifindex(name), true, TC_PRIORITY, program, 'gwlb_egress')
    this.setActivity(tunnel.index, nowNs())
    this.io.bpfMap('update', this.maps.tunnels!, endpointKey(tunnel), tunnelValue(ifindex(tunnel.ingress), tunnel.index))
  }

  /** Before its interfaces go: its packets go back to user space (which has no tunnel for them either). */
  removeTunnel(tunnel: FastTunnel): void {
    this.io.bpfMap('delete', this.maps.tunnels!, endpointKey(tunnel))
  }

  /** Seconds since the kernel last moved a packet of this tunnel. */
  idleSeconds(index: number): number {
    this.indexKey.writeUInt32LE(index)
    const value = Buffer.alloc(8)
    if (!this.io.bpfMap('lookup', this.maps.activity!, this.indexKey, value)) return Infinity
    return Math.max(0, (nowNs() - Number(value.readBigUInt64LE())) / 1e9)
  }

  private setActivity(index: number, ns: number): void {
    this.indexKey.writeUInt32LE(index)
    const value = Buffer.alloc(8)
    value.writeBigUInt64LE(BigInt(ns))
    this.io.bpfMap('update', this.maps.activity!, this.indexKey, value)
  }

  /** Packets and bytes the kernel moved: of one tunnel, or (index 0) of all. */
  traffic(index = 0): TrafficCounters {
    const [packetsIn, bytesIn] = this.sum(index * PER_TUNNEL)
    const [packetsOut, bytesOut] = this.sum(index * PER_TUNNEL + 1)
    return {packetsIn, bytesIn, packetsOut, bytesOut}
  }

  drops(): Partial<Record<AnyDropReason, number>> {
    return Object.fromEntries(KERNEL_DROP_REASONS.map((reason, i) => [reason, this.sum(STATS_DROPS + i)[0]]))
  }

  /** Flows the kernel saw within the flow timeout (as of the last count). */
  liveFlows(): number {
    return this.countFlows().live
  }

  /** Flows the LRU map let go to make room: all it was given, less what it holds (the programs never delete one). */
  evictions(): number {
    return Math.max(0, this.sum(STATS_NEW_FLOWS)[0] - this.countFlows().held)
  }

  /**
   * The flow map counted at most once a second, as the TUN path counts its table: each count is a full scan (256
   * batch calls at 262,144 flows), and the report and every /metrics scrape ask for it.
   */
  private countFlows(): {live: number; held: number} {
    const now = nowNs()
    if (now - this.counted.at >= 1e9) {
      const [live, held] = this.io.bpfCountSince(this.maps.flows!, now - this.settings.flowTimeout * 1e9)
      this.counted = {at: now, live, held}
    }
    return this.counted
  }

  /** A counter's packets and bytes, summed over the CPUs. */
  private sum(index: number): [number, number] {
    this.indexKey.writeUInt32LE(index)
    if (!this.io.bpfMap('lookup', this.maps.stats!, this.indexKey, this.counter)) return [0, 0]
    let packets = 0
    let bytes = 0
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      packets += Number(this.counter.readBigUInt64LE(cpu * COUNTER_LAYOUT.size + COUNTER_LAYOUT.packets.offset))
      bytes += Number(this.counter.readBigUInt64LE(cpu * COUNTER_LAYOUT.size + COUNTER_LAYOUT.bytes.offset))
    }
    return [packets, bytes]
  }

  /** Detaches from the GWLB's interface (the tunnels' filters go with their interfaces) and lets go of the maps. */
  async close(): Promise<void> {
    this.io.tcDetach(this.device, false, TC_PRIORITY, this.madeClsact)
    this.closeFds()
    if (this.madeClsact) await this.settings.recordClsact(undefined)
  }

  private closeFds(): void {
    for (const fd of [...Object.values(this.maps), ...Object.values(this.programs)]) this.io.close(fd)
  }
}

function popcount(n: number): number {
  let c = 0
  for (let v = n >>> 0; v; v &= v - 1) c++
  return c
}

/** The tunnels map's key: the ENI id as a u64 in host order (the program reads it big-endian off the wire). */
function endpointKey(t: FastTunnel): Buffer {
  const key = Buffer.alloc(8)
  key.writeUInt32LE(t.eniLow >>> 0, 0)
  key.writeUInt32LE(t.eniHigh >>> 0, 4)
  return key
}

function tunnelValue(ingressIfindex: number, index: number): Buffer {
  const value = Buffer.alloc(TUNNEL_LAYOUT.size)
  value.writeUInt32LE(ingressIfindex, TUNNEL_LAYOUT.ifindex.offset)
  value.writeUInt32LE(index, TUNNEL_LAYOUT.index.offset)
  return value
}
