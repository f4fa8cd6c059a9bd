/**
 * Flows seen from the GWLB, by flow key (see flow-key.ts): what the return path needs to send a packet of
 * that flow back. Bounded in entries and time, so a flood of random flows costs at most `maxFlows` entries.
 * Entries are refreshed in place (no re-insertion per packet); when full, the oldest-inserted entry goes.
 */

export interface Flow<T> {
  value: T
  lastSeen: number
}

export class FlowTable<T> {
  private readonly flows = new Map<string, Flow<T>>()
  evictions = 0

  constructor(
    readonly maxFlows: number,
    /** Milliseconds without a packet after which a flow is forgotten. */
    readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.flows.size
  }

  /** The live flow under `key`, refreshed to `now`, or undefined (expired flows are removed on sight). */
  touch(key: string, now: number): Flow<T> | undefined {
    const flow = this.flows.get(key)
    if (!flow) return undefined
    if (now - flow.lastSeen > this.timeoutMs) {
      this.flows.delete(key)
      return undefined
    }
    flow.lastSeen = now
    return flow
  }

  /** Inserts a flow; the caller has checked with touch() that it is not there. */
  insert(key: string, value: T, now: number): Flow<T> {
    if (this.flows.size >= this.maxFlows) this.evictOldest()
    const flow = {value, lastSeen: now}
    this.flows.set(key, flow)
    return flow
  }

  /** Removes expired flows and those `drop` selects (e.g. a tunnel's flows when it goes). */
  sweep(now: number, drop: (value: T) => boolean = () => false): number {
    let removed = 0
    for (const [key, flow] of this.flows) {
      if (now - flow.lastSeen > this.timeoutMs || drop(flow.value)) {
        this.flows.delete(key)
        removed++
      }
    }
    return removed
  }

  private evictOldest(): void {
    const oldest = this.flows.keys().next()
    if (!oldest.done) {
      this.flows.delete(oldest.value)
      this.evictions++
    }
  }
}
