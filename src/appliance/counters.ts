import type {DropReason} from './geneve.js'

/** Why a datagram was not decoded (its source), or a packet that got past the decoder (or came from a tunnel) was still not forwarded. */
export const FORWARD_DROP_REASONS = [
  'source-not-allowed',
  'tunnel-limit',
  'unknown-flow',
  'link-local',
  'not-ip',
  'header-too-long',
  'tunnel-queue-full',
  'tunnel-failed',
  'tunnel-write-failed',
  'gso-split-failed',
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
