import {randomInt} from 'node:crypto'
import ipaddr from 'ipaddr.js'
import {portsOffset} from '../appliance/inner-packet.js'

/** How GWLB keys a flow to a target (the target group's stickiness; 5-tuple without stickiness). */
export type Stickiness = '5-tuple' | '3-tuple' | '2-tuple'
export const STICKINESS: Stickiness[] = ['5-tuple', '3-tuple', '2-tuple']

/** GWLB forgets an idle TCP flow after 350 s, any other after 120 s. */
const IDLE_MS = {tcp: 350_000, other: 120_000}
const TCP = 6

export interface Tuple {
  protocol: number
  src: string
  dst: string
  srcPort: number
  dstPort: number
}

const ipv4 = (b: Uint8Array, p: number) => `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`
const ipv6 = (b: Uint8Array, p: number) => ipaddr.fromByteArray([...b.subarray(p, p + 16)]).toString()

/** The inner packet's protocol, addresses and ports (0 without ports, or in a later fragment). */
export function innerTuple(b: Uint8Array, p: number, length: number): Tuple | undefined {
  const version = length > 0 ? b[p]! >> 4 : 0
  if (version === 4 && length >= 20) return withPorts(b, {protocol: b[p + 9]!, src: ipv4(b, p + 12), dst: ipv4(b, p + 16)}, portsOffset(b, p, length))
  if (version === 6 && length >= 40) return withPorts(b, {protocol: b[p + 6]!, src: ipv6(b, p + 8), dst: ipv6(b, p + 24)}, portsOffset(b, p, length))
  return undefined
}

function withPorts(b: Uint8Array, t: Omit<Tuple, 'srcPort' | 'dstPort'>, p: number): Tuple {
  return p < 0 ? {...t, srcPort: 0, dstPort: 0} : {...t, srcPort: (b[p]! << 8) | b[p + 1]!, dstPort: (b[p + 2]! << 8) | b[p + 3]!}
}

/** The kernel's own link-local and multicast chatter (IPv6 router solicitations, MLD): no GWLB endpoint passes it. */
export const isLinkLocal = (t: Tuple) => /^f[ef]/.test(t.dst) || t.src.startsWith('fe80:')

/** The same key for both directions of a flow, as GWLB sends a flow's replies to the target of its requests. */
export function flowKey(t: Tuple, stickiness: Stickiness): string {
  const ends = stickiness === '5-tuple' ? [`${t.src}#${t.srcPort}`, `${t.dst}#${t.dstPort}`] : [t.src, t.dst]
  ends.sort()
  return stickiness === '2-tuple' ? ends.join(' ') : `${t.protocol} ${ends.join(' ')}`
}

/** FNV-1a: a stable spread of keys over targets. */
function hash(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export interface Flow {
  key: string
  tuple: Tuple
  target: number
  cookie: number
  /** The outer UDP source port of the flow's GENEVE (from its hash, as GWLB varies it per flow for RSS). */
  sourcePort: number
  seen: number
  packets: number
  bytes: number
}

/**
 * The stand-in's flows: each sticks to the target it was first given; `route` gives a packet's target by the
 * rules GWLB documents for new flows, flows of unhealthy targets, and no healthy target at all.
 */
export class StickyFlows {
  readonly flows = new Map<string, Flow>()
  /** Flows given a target while none was healthy (GWLB fails open: all targets take new flows). */
  failOpen = 0
  /** Flows moved off an unhealthy target (failover rebalance). */
  rebalanced = 0

  constructor(
    private readonly stickiness: Stickiness,
    private readonly rebalance: boolean,
    /** A bound on memory under a flood of new flows (each takes a few hundred bytes). */
    private readonly maxFlows = 100_000,
  ) {}

  /**
   * The flow of this packet, made or moved as needed; healthy[i] says whether target i is healthy. Undefined:
   * a new flow with the table full (until idle flows expire).
   */
  route(tuple: Tuple, bytes: number, healthy: boolean[], now = Date.now()): Flow | undefined {
    const key = flowKey(tuple, this.stickiness)
    let flow = this.flows.get(key)
    if (!flow) {
      if (this.flows.size >= this.maxFlows) return undefined
      flow = {key, tuple, target: this.pick(key, healthy), cookie: randomInt(2 ** 32), sourcePort: 49_152 + (hash(key) % 16_384), seen: now, packets: 0, bytes: 0}
      this.flows.set(key, flow)
    } else if (this.rebalance && !healthy[flow.target] && healthy.some(Boolean)) {
      flow.target = this.pick(key, healthy)
      this.rebalanced++
    }
    flow.seen = now
    flow.packets++
    flow.bytes += bytes
    return flow
  }

  private pick(key: string, healthy: boolean[]): number {
    let pool = healthy.flatMap((ok, i) => (ok ? [i] : []))
    if (pool.length === 0) {
      pool = healthy.map((_, i) => i)
      this.failOpen++
    }
    return pool[hash(key) % pool.length]!
  }

  /** Forgets idle flows as GWLB does; returns how many went. */
  expire(now = Date.now()): number {
    let gone = 0
    for (const [key, flow] of this.flows)
      if (now - flow.seen > (flow.tuple.protocol === TCP ? IDLE_MS.tcp : IDLE_MS.other)) {
        this.flows.delete(key)
        gone++
      }
    return gone
  }

  /** Live flows per target. */
  perTarget(targets: number): number[] {
    const counts = Array.from({length: targets}, () => 0)
    for (const flow of this.flows.values()) counts[flow.target]!++
    return counts
  }
}
