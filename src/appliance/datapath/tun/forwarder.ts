import {Worker} from 'node:worker_threads'
import pLimit from 'p-limit'
import type {DataPath, DataPathEvents, TunnelState, TunnelView} from '../datapath.js'
import {flowClock, type DataPlaneSetup, type FromWorker, type ToWorker} from './data-plane.js'
import {FlowTable} from './flow-table.js'
import {GENEVE_PORT, MAX_SEGMENTS, MAX_TUNNELS} from '../../../generated/abi.js'
import {tunnelNames, type TunnelNames} from '../../host/names.js'
import {native} from '../native.js'
import {SharedCounters} from './shared-counters.js'
import {batches} from '../../host/command-batch.js'
import {run, writeSysctl} from '../../host/system.js'

/** Tunnels being made at once: more fill the command batches better; fewer keep a stop's wait for them short. */
const SETUPS_AT_ONCE = 16

/** Inner packets up to 8500 bytes cross GWLB; the tunnel interfaces get exactly that MTU. */
export const TUNNEL_MTU = 8500

export class Tunnel implements TunnelView {
  state: TunnelState = 'creating'
  readonly createdAt = Date.now()
  /** One queue per worker, for each interface (IFF_MULTI_QUEUE). */
  ingressFds: number[] = []
  egressFds: number[] = []
  /** Settles when a closing tunnel is gone, so that a re-creation waits for the names to be free. */
  closed?: Promise<void>
  /** Settles when its making is over (up, failed, or undone because the appliance is stopping). */
  made?: Promise<void>

  constructor(
    readonly index: number,
    /** Which making of a pair this is (indexes are used again, generations are not). */
    readonly generation: number,
    readonly eniHigh: number,
    readonly eniLow: number,
    readonly names: TunnelNames,
  ) {}

  get ingress(): string {
    return this.names.ingress
  }

  get egress(): string {
    return this.names.egress
  }
}

export interface ForwarderOptions extends DataPathEvents {
  port?: number
  /** Data-plane threads, each with its own socket and tunnel queues. */
  workers: number
  /** Seconds without traffic (either way) after which a tunnel is destroyed; 0 keeps tunnels forever. */
  idleTimeout: number
  /** Seconds without traffic after which a flow is forgotten. */
  flowTimeout: number
  maxFlows: number
  /** Tunnel pairs at most (at most MAX_TUNNELS); packets of further endpoints are dropped as tunnel-limit. */
  maxTunnels: number
  /** GENEVE only from these IPv4 blocks ([network, mask] pairs); absent: from anywhere. */
  allowedSources?: Uint32Array
  /** GSO packets into and out of the tunnels (runs of one flow merged on the way in). */
  gso: boolean
  /** Seconds since the kernel last moved a packet of this tunnel itself (the BPF path): it is not idle while it does. */
  kernelIdleSeconds?: (index: number) => number
  batch?: number
  receiveBuffer?: number
}

/** A failure to bind or open what the data plane needs, with the errno the worker met. */
export class DataPlaneError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

/**
 * The GENEVE forwarder's control side, on the main thread: starts the data-plane workers, makes a
 * gwi-X/gwo-X pair (one queue per worker) the first time a worker meets a GWLB endpoint, hands the queues
 * out, and takes tunnels down when idle or on stop. The workers share one flow table, so a reply that the
 * kernel puts on another worker's queue than its request's still finds its header.
 */
export class Forwarder implements DataPath {
  readonly active = 'tun'
  readonly description = 'the TUN data path'
  readonly counters: SharedCounters
  readonly flows: FlowTable
  readonly tunnels: Tunnel[] = []
  /** Live flows, counted once a second (a full scan of the table). */
  liveFlows = 0
  private readonly workers: Worker[] = []
  private readonly released = new Map<number, {left: number; done: () => void}>()
  private timer?: NodeJS.Timeout
  private stopping = false
  /** Packets dropped for want of room in the tunnel table, as of the last housekeeping. */
  private limited = 0
  /**
   * Tunnels being set up at once. Each set-up spawns ip/nft processes; hundreds at once starve the event
   * loop that answers health checks and signals. The rest wait their turn (and a stop skips them).
   */
  private readonly setUps = pLimit(SETUPS_AT_ONCE)
  private generations = 0
  /** What the workers were last told of the tunnel table: full or not. */
  private full = false

  constructor(private readonly options: ForwarderOptions) {
    this.counters = new SharedCounters(options.workers)
    this.flows = new FlowTable(options.maxFlows, options.flowTimeout)
  }

  /** Seconds since either path moved a packet of this tunnel. */
  idleSeconds(tunnel: TunnelView): number {
    if (tunnel.state !== 'up') return 0
    return Math.min(flowClock() - this.counters.lastActivity(tunnel.index), this.options.kernelIdleSeconds?.(tunnel.index) ?? Infinity)
  }

  /**
   * Binds UDP 6081 in every worker; resolves once all are receiving. udpGro: take GRO-merged datagrams from the
   * socket (the BPF path, which wants each datagram, says no).
   */
  async start(udpGro = this.options.gso): Promise<void> {
    const port = this.options.port ?? GENEVE_PORT
    // Every worker joins one SO_REUSEPORT group; a plain bind first tells whether anybody else holds the port.
    const io = native()
    io.close(io.openUdp(port, 0, 0, false))
    const ready = Array.from({length: this.options.workers}, (_, worker) => this.startWorker(worker, port, udpGro))
    await Promise.all(ready)
    this.timer = setInterval(() => this.housekeeping(), 1000)
  }

  /**
   * Waits for the tunnels being made (each undoes itself once made), destroys the others (running their
   * hooks), then stops the workers: nothing a tunnel set up outlives the stop.
   */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearInterval(this.timer)
    await Promise.all(this.tunnels.filter((t) => t.state === 'creating').map((t) => t.made))
    const going = [...this.tunnels]
    await Promise.all(going.map((t) => this.destroyTunnel(t)))
    // Their interfaces go in one batch, then the queues close on devices that are gone already.
    await deleteLinks(going.flatMap((t) => [t.ingress, t.egress]))
    for (const t of going) this.closeFds(t)
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      w.once('exit', () => resolve())
      w.postMessage({type: 'stop'} satisfies ToWorker)
    })))
  }

  private startWorker(worker: number, port: number, udpGro: boolean): Promise<void> {
    const setup: DataPlaneSetup = {
      worker, workers: this.options.workers, port, batch: this.options.batch ?? 64, receiveBuffer: this.options.receiveBuffer ?? 8 << 20,
      flowBuffer: this.flows.buffer, maxFlows: this.options.maxFlows, flowTimeout: this.options.flowTimeout, countersBuffer: this.counters.buffer,
      gso: this.options.gso, udpGro, allowedSources: this.options.allowedSources,
    }
    const thread = new Worker(new URL('./worker.js', import.meta.url), {workerData: setup})
    this.workers.push(thread)
    return new Promise((resolve, reject) => {
      thread.once('error', (error) => {
        reject(error)
        if (!this.stopping) this.options.onFailure(new Error(`data-plane worker ${worker} failed: ${error.message}`))
      })
      thread.on('message', (message: FromWorker) => {
        if (message.type === 'ready') resolve()
        else if (message.type === 'failed') reject(new DataPlaneError(message.message, String(message.errno)))
        else this.onWorkerMessage(message)
      })
    })
  }

  private onWorkerMessage(message: FromWorker): void {
    if (message.type === 'need-tunnel') this.ensureTunnel(message.eniHigh, message.eniLow)
    else if (message.type === 'tunnel-lost') this.tunnelLost(message.index, message.generation)
    else if (message.type === 'tunnel-released') {
      const waiting = this.released.get(message.index)
      if (waiting && --waiting.left === 0) waiting.done()
    }
  }

  /**
   * One of a pair's interfaces went away under us (`ip link del`): the pair goes, the next packet remakes it.
   * Every worker reports it, some late: a report names its pair's generation, so it never takes down the remade one.
   */
  private tunnelLost(index: number, generation: number): void {
    const tunnel = this.tunnels.find((t) => t.index === index && t.generation === generation && t.state === 'up')
    if (!tunnel || this.stopping) return
    this.options.log(`tunnel ${tunnel.ingress}/${tunnel.egress}: an interface was deleted; taking the pair down (the next packet makes it again)`)
    void this.destroyTunnel(tunnel)
  }

  private broadcast(message: ToWorker | ((worker: number) => ToWorker)): void {
    this.workers.forEach((w, i) => w.postMessage(typeof message === 'function' ? message(i) : message))
  }

  private ensureTunnel(eniHigh: number, eniLow: number): void {
    if (this.stopping) return
    const same = this.tunnels.filter((t) => t.eniLow === eniLow && t.eniHigh === eniHigh)
    if (same.some((t) => t.state === 'creating' || t.state === 'up')) return
    // A failed set-up is tried again once it is forgotten, not at every packet meanwhile.
    if (same.some((t) => t.state === 'failed')) return this.broadcast({type: 'tunnel-failed', eniHigh, eniLow, reason: 'tunnel-failed'})
    // An endpoint back while its idle tunnel is still being taken down takes that tunnel's slot over.
    const closing = same.find((t) => t.state === 'closing')
    const index = closing?.index ?? this.freeIndex()
    if (!closing && (this.inUse() >= this.maxTunnels || index > MAX_TUNNELS)) return this.broadcast({type: 'tunnel-failed', eniHigh, eniLow, reason: 'tunnel-limit'})
    const tunnel = new Tunnel(index, ++this.generations, eniHigh, eniLow, tunnelNames(eniHigh, eniLow))
    this.tunnels.push(tunnel)
    this.tellCapacity()
    tunnel.made = this.setUps(() => this.createTunnel(tunnel, closing?.closed))
  }

  private get maxTunnels(): number {
    return Math.min(this.options.maxTunnels, MAX_TUNNELS)
  }

  /** Slots taken: a failed set-up holds none, a tunnel and the one taking its slot over hold one. */
  private inUse(): number {
    return new Set(this.tunnels.filter((t) => t.state !== 'failed').map((t) => t.index)).size
  }

  /** Workers drop packets of new endpoints themselves while the table is full, instead of asking per packet. */
  private tellCapacity(): void {
    const full = this.inUse() >= this.maxTunnels
    if (full === this.full) return
    this.full = full
    this.broadcast({type: 'capacity', full})
  }

  private freeIndex(): number {
    const used = new Set(this.tunnels.map((t) => t.index))
    let i = 1
    while (used.has(i)) i++
    return i
  }

  private async createTunnel(tunnel: Tunnel, previousClosed?: Promise<void>): Promise<void> {
    await previousClosed
    if (this.stopping) return this.forget(tunnel) // waited its turn past a stop: nothing made, nothing to undo
    const io = native()
    let hooked = false
    try {
      for (let w = 0; w < this.workers.length; w++) {
        tunnel.ingressFds.push(io.openTun(tunnel.ingress, true, this.options.gso))
        tunnel.egressFds.push(io.openTun(tunnel.egress, true, this.options.gso))
      }
      // Each step checks for a stop: under churn a stop waits for one step per tunnel, not for all of them.
      if (!this.stopping) {
        await Promise.all([tunnel.ingress, tunnel.egress].map(async (name) => {
          await quietIpv6(name)
          await withoutQueue(name, this.options.log)
          if (this.options.gso) await limitSegments(name, MAX_SEGMENTS, this.options.log)
          io.linkUp(name, TUNNEL_MTU)
        }))
      }
      if (!this.stopping) {
        await this.options.onTunnelUp(tunnel)
        hooked = true
      }
    } catch (error) {
      this.options.log(`tunnel ${tunnel.ingress}/${tunnel.egress} (eni-${tunnel.names.eniHex}) failed: ${(error as Error).message}`)
      tunnel.state = 'failed'
      this.closeFds(tunnel)
      this.broadcast({type: 'tunnel-failed', eniHigh: tunnel.eniHigh, eniLow: tunnel.eniLow, reason: 'tunnel-failed'})
      // Forget the failure after a while, so that a later packet tries again.
      setTimeout(() => this.forget(tunnel), 5000).unref()
      return
    }
    if (this.stopping) {
      // Stopped while it was being made: it never carried traffic; undo what its making did here.
      if (hooked) await this.options.onTunnelDown(tunnel).catch((error: Error) => this.options.log(`tunnel ${tunnel.ingress}: tear-down: ${error.message}`))
      this.closeFds(tunnel)
      this.forget(tunnel)
      return
    }
    this.counters.resetTunnel(tunnel.index, flowClock())
    tunnel.state = 'up'
    const {eniHigh, eniLow, index, generation} = tunnel
    this.broadcast((w) => ({type: 'tunnel-up', eniHigh, eniLow, index, generation, ingressFd: tunnel.ingressFds[w]!, egressFd: tunnel.egressFds[w]!}))
    this.options.log(`tunnel up: ${tunnel.ingress}/${tunnel.egress} for eni-${tunnel.names.eniHex}`)
  }

  /** Workers let go of the queues, then the destroy hook and the rules run, then the interfaces go. */
  private destroyTunnel(tunnel: Tunnel): Promise<void> {
    if (tunnel.closed) return tunnel.closed
    const wasUp = tunnel.state === 'up'
    tunnel.state = 'closing'
    tunnel.closed = (async () => {
      if (wasUp) {
        await new Promise<void>((done) => {
          this.released.set(tunnel.index, {left: this.workers.length, done})
          this.broadcast({type: 'tunnel-down', index: tunnel.index})
        })
        this.released.delete(tunnel.index)
        try {
          await this.options.onTunnelDown(tunnel)
        } catch (error) {
          this.options.log(`tunnel ${tunnel.ingress}: tear-down: ${(error as Error).message}`)
        }
      }
      // On the way out stop() deletes all interfaces at once. Here too the interfaces go first, through `ip`
      // (the kernel's unregistering waits ~40 ms each, there), then the queues close on devices that are gone:
      // a queue closed first would make that wait here, or in the exec of any child forked meanwhile (which
      // holds the queue until it execs), blocking the loop that answers health checks.
      if (!this.stopping) {
        await Promise.all([tunnel.ingress, tunnel.egress].map((name) => batches.ip4.run(`link del dev ${name}`).catch(() => undefined)))
        this.closeFds(tunnel)
      }
      this.forget(tunnel)
      if (wasUp) this.options.log(`tunnel down: ${tunnel.ingress}/${tunnel.egress}`)
    })()
    return tunnel.closed
  }

  private closeFds(tunnel: Tunnel): void {
    const io = native()
    for (const fd of [...tunnel.ingressFds, ...tunnel.egressFds]) io.close(fd)
    tunnel.ingressFds = []
    tunnel.egressFds = []
  }

  private forget(tunnel: Tunnel): void {
    const i = this.tunnels.indexOf(tunnel)
    if (i >= 0) this.tunnels.splice(i, 1)
    if (!this.stopping) this.tellCapacity()
  }

  private housekeeping(): void {
    // Said once a second, with the count: not once per packet.
    const limited = this.counters.drops()['tunnel-limit']
    if (limited > this.limited) this.options.log(`no room for tunnels: ${this.maxTunnels} exist (--max-tunnels); ${limited - this.limited} packets of other endpoints dropped in the last second (tunnel-limit)`)
    this.limited = limited
    const now = flowClock()
    this.liveFlows = this.flows.count(now)
    const idle = this.options.idleTimeout
    if (idle <= 0) return
    for (const t of this.tunnels) if (t.state === 'up' && this.idleSeconds(t) > idle) void this.destroyTunnel(t)
  }
}

/** A link group only for the tunnel interfaces while they are deleted ('gwlb' in ASCII). */
const LINK_GROUP = 0x67776c62

/**
 * Deletes interfaces in one batch: the kernel unregisters a group's devices together (240 tunnel interfaces
 * in 0.45 s here, against 5.5 s when each goes with its last queue, one at a time).
 */
async function deleteLinks(names: string[]): Promise<void> {
  if (names.length === 0) return
  await run('ip', ['-force', '-batch', '-'], names.map((name) => `link set dev ${name} group ${LINK_GROUP}\n`).join('')).catch(() => undefined)
  await run('ip', ['link', 'del', 'group', String(LINK_GROUP)]).catch(() => undefined)
}

/**
 * GSO packets the kernel hands a worker must fit its batch; larger ones it cuts up itself first. Where the
 * kernel cannot be told, the tunnel still works: what does not fit is dropped as gso-split-failed.
 */
async function limitSegments(name: string, max: number, log: (message: string) => void): Promise<void> {
  await batches.ip4.run(`link set dev ${name} gso_max_segs ${max}`).catch((error: Error) =>
    log(`${name}: gso_max_segs not set (${error.message}); GSO packets of more than ${max} segments will be dropped`),
  )
}

/**
 * No qdisc in front of a tunnel interface, set before it goes up. TUN takes every packet at once (into its own
 * queue, or dropped when that is full), so a qdisc only costs. The default is mq with a pfifo_fast for each of
 * multi-queue TUN's 256 transmit queues, each sized by txqueuelen: 24.5 MB of kernel memory per interface,
 * cleared at link-up (measured; 49 MB and about 0.25 s of CPU per tunnel).
 */
async function withoutQueue(name: string, log: (message: string) => void): Promise<void> {
  await batches.tc.run(`qdisc replace dev ${name} root noqueue`).catch((error: Error) =>
    log(`${name}: qdisc left as the kernel's default (${error.message}); each tunnel interface takes about 24 MB of kernel memory`),
  )
}

/**
 * No IPv6 link-local address on a tunnel interface: without it the kernel sends no router solicitations or
 * MLD reports into the tunnel (packets of no flow), while it still forwards IPv6 through it.
 */
async function quietIpv6(name: string): Promise<void> {
  await writeSysctl(`net.ipv6.conf.${name}.addr_gen_mode`, 1).catch(() => undefined) // IPv6 off: nothing to quiet
}
