import {DROP_REASONS, type DropReason} from './geneve.js'

/** Why a packet that got past the decoder (or came from a tunnel) was still not forwarded. */
export const FORWARD_DROP_REASONS = [
  'unknown-flow',
  'link-local',
  'not-ip',
  'header-too-long',
  'tunnel-queue-full',
  'tunnel-failed',
  'tunnel-write-failed',
  'send-failed',
  'oversize',
] as const
export type ForwardDropReason = (typeof FORWARD_DROP_REASONS)[number]
export type AnyDropReason = DropReason | ForwardDropReason

export interface TrafficCounters {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
}

export const emptyTraffic = (): TrafficCounters => ({packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0})

/** Global counters of the forwarder: "in" is GENEVE from the GWLB, "out" is GENEVE back to it. */
export class Counters {
  readonly traffic = emptyTraffic()
  readonly drops = Object.fromEntries([...DROP_REASONS, ...FORWARD_DROP_REASONS].map((r) => [r, 0])) as Record<AnyDropReason, number>

  drop(reason: AnyDropReason, count = 1): void {
    this.drops[reason] += count
  }

  get totalDrops(): number {
    return Object.values(this.drops).reduce((a, b) => a + b, 0)
  }
}
