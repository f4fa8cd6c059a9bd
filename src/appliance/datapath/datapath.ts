import type {AnyDropReason, TrafficCounters} from '../counters.js'
import type {TunnelNames} from '../host/names.js'

/** --datapath: bpf, tun, or auto (bpf where the kernel takes the programs, else tun). */
export type DataPathKind = 'bpf' | 'tun' | 'auto'
export const DATA_PATH_KINDS: readonly DataPathKind[] = ['auto', 'bpf', 'tun']

/**
 * What the appliance's control loop needs of a data path, whatever moves the packets (the TUN path in ./tun,
 * and the BPF path in ./bpf, which takes the common case off it): GENEVE in from the GWLB, one gwi-/gwo- pair per endpoint,
 * replies back with their flow's header, counters for health and /metrics.
 */
export interface DataPath {
  /** What moves the packets of tunnels that are up: the kernel (BPF programs) or this process (TUN devices). */
  readonly active: 'bpf' | 'tun'
  /** For the ready line, e.g. "the BPF data path on eth0". */
  readonly description: string
  readonly tunnels: readonly TunnelView[]
  readonly counters: DataPathCounters
  /** Flows alive now (refreshed about once a second). */
  readonly liveFlows: number
  /** Seconds since a tunnel last carried a packet either way. */
  idleSeconds(tunnel: TunnelView): number
  /** Resolves once GENEVE is received; rejects with an errno-coded error when the port or devices cannot be had. */
  start(): Promise<void>
  /** Takes every tunnel down (through onTunnelDown), then stops moving packets. */
  stop(): Promise<void>
}

export const TUNNEL_STATES = ['creating', 'up', 'closing', 'failed'] as const
export type TunnelState = typeof TUNNEL_STATES[number]

/** A tunnel pair, as the control loop sees it. */
export interface TunnelView {
  /** Small positive number, unique among live tunnels. */
  readonly index: number
  readonly names: TunnelNames
  readonly ingress: string
  readonly egress: string
  readonly state: TunnelState
  readonly createdAt: number
}

export interface DataPathCounters {
  traffic(): TrafficCounters
  /** The part of traffic() the kernel moved without this process (the BPF path; zero on the TUN path). */
  kernelTraffic(): TrafficCounters
  tunnelTraffic(index: number): TrafficCounters
  drops(): Record<AnyDropReason, number>
  crossWorkerReplies(): number
  coalesced(): number
  groMerged(): number
  /** Live flows pushed out of the flow table to make room for new ones. */
  evictions(): number
}

/** What a data path tells the control loop, which brings tunnels into and out of service (rules, hooks). */
export interface DataPathEvents {
  /** A tunnel's interfaces are up; a rejection fails the tunnel. */
  onTunnelUp(tunnel: TunnelView): Promise<void>
  onTunnelDown(tunnel: TunnelView): Promise<void>
  /** The data path is no longer whole, and the process should stop (systemd restarts it). */
  onFailure(error: Error): void
  log(message: string): void
}
