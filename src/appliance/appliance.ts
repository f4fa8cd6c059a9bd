import {access, constants as fsConstants} from 'node:fs/promises'
import {constants} from 'node:os'
import {UserError} from '../errors.js'
import {flowClock} from './data-plane.js'
import {Forwarder, type Tunnel} from './forwarder.js'
import {HealthServer, type HealthFormat, type HealthReport, type Readiness} from './health.js'
import {runHook, type HookEvent} from './hooks.js'
import {errnoOf} from './native.js'
import {natEgress, type Mode} from '../mode.js'
import {Rules} from './rules.js'
import type {SourceDestCheck} from './source-dest-check.js'
import {defaultRouteInterface, ipv4Addresses} from './system.js'

export interface ApplianceOptions {
  mode: Mode
  healthPort: number
  healthFormat: HealthFormat
  idleTimeout: number
  flowTimeout: number
  maxFlows: number
  gso: boolean
  /** Data-plane threads (default: one per CPU). */
  workers: number
  /** Packets per batched system call. */
  batch?: number
  onCreate?: string
  onDestroy?: string
  /** false: no rules or sysctls of its own, hooks only (the gwlbtun way). */
  rules: boolean
  egressInterface?: string
  sourceDestCheck: 'auto' | 'skip'
  /** UDP port for GENEVE; 6081 everywhere but in tests. */
  genevePort?: number
  log(message: string): void
}

export interface Appliance {
  report(): HealthReport
  stop(): Promise<void>
  /** Rejects if the data plane fails while running (a worker died). */
  failed: Promise<never>
}

const {EADDRINUSE, EACCES, EPERM} = constants.errno

/** Masquerading needs an interface that exists and has an address: else traffic would leave un-NATed, or not at all. */
async function checkEgress(name: string): Promise<void> {
  const addresses = await ipv4Addresses(name)
  if (!addresses) throw new UserError(`egress interface ${name} does not exist`, 'pass --egress-interface with an interface of this host (ip -br link lists them)')
  if (addresses.length === 0) throw new UserError(`egress interface ${name} has no IPv4 address to masquerade to`, 'give it an address, or pass another --egress-interface')
}

/**
 * `gwlb appliance run`: health port (503 while starting), rules, the forwarder; then 200 until stop(), which
 * answers 503 again, runs every tunnel's destroy hook, removes the rules and restores the sysctls and the
 * instance's source/destination check.
 */
export async function startAppliance(options: ApplianceOptions): Promise<Appliance> {
  const {log} = options
  if (process.getuid?.() !== 0)
    throw new UserError('gwlb appliance run needs root (TUN devices, raw sockets, nftables)', 'run it with sudo, or install the systemd unit with `gwlb appliance install`')
  await access('/dev/net/tun', fsConstants.R_OK | fsConstants.W_OK).catch(() => {
    throw new UserError('/dev/net/tun is missing', 'load the tun module (`modprobe tun`) or give the container the TUN device')
  })

  const nat = natEgress(options.mode)
  const egressInterface = options.egressInterface ?? (nat ? await defaultRouteInterface() : undefined)
  if (nat && options.rules && !egressInterface)
    throw new UserError(`${options.mode} mode needs an egress interface and there is no default route`, 'pass --egress-interface')
  if (nat && options.rules) await checkEgress(egressInterface!)

  let status: Readiness = 'starting'
  const started = Date.now()
  const rules = options.rules ? new Rules({mode: options.mode, egressInterface: egressInterface ?? '', log}) : undefined
  // Loaded only where it is used: the EC2 SDK costs tens of megabytes the data plane does not otherwise need.
  const sourceDest: SourceDestCheck | undefined =
    nat && options.sourceDestCheck === 'auto' ? new (await import('./source-dest-check.js')).SourceDestCheck() : undefined
  let sourceDestAsked = false

  let fail!: (error: Error) => void
  const failed = new Promise<never>((_, reject) => (fail = reject))
  failed.catch(() => undefined) // observed by the command; not an unhandled rejection meanwhile

  const hook = async (command: string | undefined, event: HookEvent, tunnel: Tunnel) => {
    if (command) await runHook(command, event, tunnel.names, log)
  }
  const forwarder = new Forwarder({
    port: options.genevePort,
    idleTimeout: options.idleTimeout,
    flowTimeout: options.flowTimeout,
    maxFlows: options.maxFlows,
    workers: options.workers,
    batch: options.batch,
    gso: options.gso,
    log,
    async onTunnelUp(tunnel) {
      await rules?.addTunnel(tunnel)
      await hook(options.onCreate, 'CREATE', tunnel)
      if (sourceDest && !sourceDestAsked) {
        sourceDestAsked = true
        sourceDest.disable().then(log, (error: Error) => log(`source/destination check left as it is: ${error.message}`))
      }
    },
    async onTunnelDown(tunnel) {
      await hook(options.onDestroy, 'DESTROY', tunnel)
      await rules?.removeTunnel(tunnel)
    },
    onFailure: (error) => fail(error),
  })

  const report = (): HealthReport => {
    const now = flowClock()
    const {counters} = forwarder
    return {
      status,
      mode: options.mode,
      workers: options.workers,
      uptimeSeconds: Math.floor((Date.now() - started) / 1000),
      traffic: counters.traffic(),
      drops: counters.drops(),
      crossWorkerReplies: counters.crossWorkerReplies(),
      coalesced: counters.coalesced(),
      groMerged: counters.groMerged(),
      flows: forwarder.liveFlows,
      tunnels: forwarder.tunnels.map((t) => ({
        ingress: t.ingress,
        egress: t.egress,
        eni: t.names.eniHex,
        state: t.state,
        traffic: counters.tunnelTraffic(t.index),
        createdAt: new Date(t.createdAt).toISOString(),
        idleSeconds: t.state === 'up' ? now - counters.lastActivity(t.index) : 0,
      })),
    }
  }

  const health = new HealthServer(options.healthFormat, report)
  try {
    await health.listen(options.healthPort)
  } catch (error) {
    throw new UserError(`health port ${options.healthPort} is not free (${(error as Error).message})`, 'stop what uses it or pass another --health-port')
  }

  const stop = async () => {
    status = 'stopping'
    await forwarder.stop()
    await rules?.stop().catch((error: Error) => log(`rules: ${error.message}`))
    if (sourceDest) await sourceDest.restore().then((m) => m && log(m), (error: Error) => log(`source/destination check not restored: ${error.message}`))
    await health.close()
  }

  try {
    await rules?.start()
    await forwarder.start()
  } catch (error) {
    await stop()
    const errno = errnoOf(error)
    if (errno === EADDRINUSE)
      throw new UserError(`UDP port ${options.genevePort ?? 6081} is already in use`, 'stop the other GENEVE listener (gwlbtun?) first')
    if (errno === EACCES || errno === EPERM)
      throw new UserError(`not allowed to open sockets or TUN devices (${(error as Error).message})`, 'run as root or with CAP_NET_ADMIN and CAP_NET_RAW')
    throw error
  }
  status = 'ready'
  log(`ready: GENEVE on UDP ${options.genevePort ?? 6081}, health on TCP ${options.healthPort}, ${options.mode}${egressInterface && nat ? ` via ${egressInterface}` : ''}${rules ? '' : ', no rules (hooks only)'}`)
  return {report, stop, failed}
}
