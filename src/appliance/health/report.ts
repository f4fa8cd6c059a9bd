import type {AnyDropReason, TrafficCounters} from '../counters.js'
import type {TunnelState} from '../datapath/datapath.js'
import type {InspectionReport} from '../host/inspection.js'
import type {PolicyReport} from '../policy/enforce.js'

export type HealthFormat = 'text' | 'json' | 'status'
/** uninspected: running, but --inspect-fail closed and no engine attached (503, as starting and stopping). */
export type Readiness = 'starting' | 'ready' | 'uninspected' | 'stopping'

export interface TunnelReport {
  ingress: string
  egress: string
  eni: string
  state: TunnelState
  traffic: TrafficCounters
  createdAt: string
  idleSeconds: number
}

export interface HealthReport {
  status: Readiness
  mode: string
  workers: number
  uptimeSeconds: number
  /** bpf: the kernel moves the packets of tunnels that are up; tun: this process moves them all. */
  datapath: 'bpf' | 'tun'
  traffic: TrafficCounters
  /** The part of traffic the kernel moved by itself (BPF path). */
  kernelTraffic: TrafficCounters
  drops: Record<AnyDropReason, number>
  /** Replies read by another worker than the one that received their request (the shared table at work). */
  crossWorkerReplies: number
  /** Packets written into a tunnel inside a GSO packet with others of their flow (routed and filtered once). */
  coalesced: number
  /** GENEVE packets that arrived merged by GRO with others of their GWLB flow. */
  groMerged: number
  /** Live flows pushed out of the flow table (--max-flows reached in their part of it). */
  flowEvictions: number
  /** GENEVE datagrams the kernel dropped because the receive buffer was full (all workers' sockets). */
  receiveBufferDrops: number
  flows: number
  tunnels: TunnelReport[]
  /** Absent: --inspect off. */
  inspection?: InspectionReport
  /** Absent: no --policy. */
  policy?: PolicyReport
}
