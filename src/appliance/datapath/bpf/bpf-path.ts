import {UserError} from '../../../errors.js'
import {emptyTraffic, type AnyDropReason, type TrafficCounters} from '../../counters.js'
import type {DataPath, DataPathCounters, TunnelView} from '../datapath.js'
import {Forwarder, type ForwarderOptions, type Tunnel} from '../tun/forwarder.js'
import {FastPath, type FastPathSettings} from './fast-path.js'

const plus = (a: TrafficCounters, b: TrafficCounters): TrafficCounters => ({
  packetsIn: a.packetsIn + b.packetsIn, bytesIn: a.bytesIn + b.bytesIn, packetsOut: a.packetsOut + b.packetsOut, bytesOut: a.bytesOut + b.bytesOut,
})

/**
 * The BPF data path: the TUN path does all it did (tunnels, hooks, rules, and every packet the kernel passes
 * up), and once a tunnel is up the kernel moves its packets itself (./fast-path.ts). With `auto`, a kernel
 * that cannot load the programs leaves the TUN path alone, said in one line.
 */
export class BpfDataPath implements DataPath {
  private readonly tun: Forwarder
  private fast?: FastPath
  private readonly tunOptions: ForwarderOptions

  constructor(
    private readonly kind: 'bpf' | 'auto',
    options: ForwarderOptions,
    private readonly fastSettings: FastPathSettings,
  ) {
    this.tunOptions = {
      ...options,
      kernelIdleSeconds: (index) => this.fast?.idleSeconds(index) ?? Infinity,
      onTunnelUp: async (tunnel) => {
        await options.onTunnelUp(tunnel)
        this.fast?.addTunnel(tunnel as Tunnel)
      },
      onTunnelDown: async (tunnel) => {
        this.fast?.removeTunnel(tunnel as Tunnel)
        await options.onTunnelDown(tunnel)
      },
    }
    this.tun = new Forwarder(this.tunOptions)
  }

  /** Which path moves the packets: 'bpf' once started on a kernel that took the programs. */
  get active(): 'bpf' | 'tun' {
    return this.fast ? 'bpf' : 'tun'
  }

  get description(): string {
    return this.fast ? `the BPF data path on ${this.fastSettings.device}` : this.tun.description
  }

  get tunnels(): readonly TunnelView[] {
    return this.tun.tunnels
  }

  /** Flows either path saw within the flow timeout (a flow both saw counts twice). */
  get liveFlows(): number {
    return this.tun.liveFlows + (this.fast?.liveFlows() ?? 0)
  }

  idleSeconds(tunnel: TunnelView): number {
    return this.tun.idleSeconds(tunnel)
  }

  readonly counters: DataPathCounters = {
    traffic: () => (this.fast ? plus(this.tun.counters.traffic(), this.fast.traffic()) : this.tun.counters.traffic()),
    tunnelTraffic: (index) => (this.fast ? plus(this.tun.counters.tunnelTraffic(index), this.fast.traffic(index)) : this.tun.counters.tunnelTraffic(index)),
    drops: () => {
      const drops = {...this.tun.counters.drops()}
      for (const [reason, n] of Object.entries(this.fast?.drops() ?? {})) drops[reason as AnyDropReason] += n
      return drops
    },
    kernelTraffic: () => this.fast?.traffic() ?? emptyTraffic(),
    crossWorkerReplies: () => this.tun.counters.crossWorkerReplies(),
    coalesced: () => this.tun.counters.coalesced(),
    groMerged: () => this.tun.counters.groMerged(),
    evictions: () => this.tun.counters.evictions() + (this.fast?.evictions() ?? 0),
  }

  async start(): Promise<void> {
    try {
      this.fast = await FastPath.open(this.fastSettings)
    } catch (error) {
      if (this.kind === 'bpf')
        throw new UserError(`the BPF data path cannot load on ${this.fastSettings.device}: ${(error as Error).message}`, 'run it with --datapath tun (or auto), on Linux 5.15 or later, with CAP_BPF')
      this.tunOptions.log(`datapath auto: the TUN path, since the kernel path cannot load on ${this.fastSettings.device}: ${(error as Error).message}`)
    }
    try {
      // GRO would merge a bulk flow's datagrams before the kernel path sees them, and send it all up; the TUN
      // path alone takes them as --datapath tun does.
      await this.tun.start(this.fast ? false : this.tunOptions.gso)
    } catch (error) {
      await this.fast?.close()
      throw error
    }
  }

  async stop(): Promise<void> {
    await this.tun.stop()
    await this.fast?.close()
  }
}
