import {access, constants as fsConstants} from 'node:fs/promises'
import {constants} from 'node:os'
import {Ipv4Blocks, isLoopback, parseCidr, type Cidr} from '../cidr.js'
import {UserError} from '../errors.js'
import {natEgress, type Mode} from '../mode.js'
import type {DataPath, DataPathEvents, DataPathKind} from './datapath/datapath.js'
import {selectDataPath} from './datapath/select.js'
import {errnoOf} from './datapath/native.js'
import type {HealthFormat, HealthReport, Readiness} from './health/report.js'
import {HealthServer, ReportServer} from './health/server.js'
import {runHook} from './host/hooks.js'
import {Inspection, type InspectFail, type InspectMode} from './host/inspection.js'
import {Rules} from './host/rules.js'
import {EgressPolicy} from './policy/enforce.js'
import type {SourceDestCheck} from './host/source-dest-check.js'
import {instanceSubnet} from './host/imds.js'
import {lockHost} from './host/state.js'
import {defaultRouteInterface, ipv4Addresses, udpReceiveDrops, writeSysctl} from './host/system.js'

export interface ApplianceOptions {
  mode: Mode
  healthPort: number
  /** More ports that answer health checks as the health port does (a change of health port in flight). */
  alsoHealthPorts?: number[]
  healthFormat: HealthFormat
  idleTimeout: number
  flowTimeout: number
  maxFlows: number
  /** Tunnel pairs at most: packets of more endpoints are dropped (tunnel-limit). */
  maxTunnels: number
  /**
   * The only senders of GENEVE (the GWLB's subnets), also the only ones besides this host that may read the
   * report when it listens elsewhere than loopback. 'any': no limit. Absent: this instance's subnet, on EC2.
   */
  allowedSources?: Cidr[] | 'any'
  /** Where the detailed report and /metrics are served; absent: not at all. */
  metricsListen?: {host: string; port: number}
  gso: boolean
  /** bpf: the kernel moves the packets of tunnels that are up; tun: user space moves them all; auto: bpf where it loads. */
  datapath: DataPathKind
  /** The interface GENEVE arrives on, for the BPF path (default: the route to the allowed sources, else the default route's). */
  geneveInterface?: string
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
  genevePort: number
  /** Where an inspection engine sees the forwarded traffic (ids: a copy on the monitor interface; ips: NFQUEUE), and what its absence means. */
  inspect: {mode: InspectMode; queues: number; fail: InspectFail}
  /** The egress policy file: applied before the first packet, again on reloadPolicy(). */
  policy?: string
  /** Where the engine reads the policy's domain rules, and its control socket. */
  policyEngine?: {rulesFile: string; socket?: string}
  log(message: string): void
}

export interface Appliance {
  report(): HealthReport
  /** Reads the policy file again and puts it in force, or keeps the one in force (said in the log). */
  reloadPolicy(): Promise<void>
  stop(): Promise<void>
  /** Rejects if the data plane fails while running (a worker died). */
  failed: Promise<never>
}

const {EADDRINUSE, EACCES, EPERM} = constants.errno

/**
 * `gwlb appliance run`: health port (503 while starting), rules, the data path; then 200 until stop(), which
 * answers 503 again, runs every tunnel's destroy hook, removes the rules and restores the sysctls and the
 * instance's source/destination check.
 */
export async function startAppliance(options: ApplianceOptions): Promise<Appliance> {
  await checkPrivileges()
  if (options.idleTimeout > 0 && options.idleTimeout <= options.flowTimeout)
    options.log(`--idle-timeout ${options.idleTimeout} is not longer than --flow-timeout ${options.flowTimeout}: a tunnel may go while a flow through it is alive (its next packet makes it again)`)
  const egressInterface = await egressFor(options)
  // One appliance per network namespace, and what a dead one left is undone before anything else.
  if (options.inspect.mode !== 'off' && !options.rules)
    throw new UserError(`--inspect ${options.inspect.mode} needs gwlb's own rules (its hook is one of them)`, 'leave out --no-rules, or hook your engine up in an --on-create hook with --inspect off', 'usage')
  if (options.policy && !options.rules) throw new UserError('--policy needs gwlb\'s own rules (it is an nftables table of theirs)', 'leave out --no-rules', 'usage')
  const inspection = options.inspect.mode === 'off' ? undefined : new Inspection({...options.inspect, log: options.log})
  const host = await lockHost()
  const policy = options.policy ? new EgressPolicy({
    file: options.policy, log: options.log, publish: (r) => host.publish('policy', r),
    engine: options.policyEngine && {...options.policyEngine, enforcing: options.inspect.mode === 'ips' && options.inspect.fail === 'closed'},
  }) : undefined
  await restoreSysctls(host.left)
  const rules = options.rules ? new Rules({mode: options.mode, egressInterface: egressInterface ?? '', log: options.log, onOriginals: host.record, inspection}) : undefined
  const sourceDest = await sourceDestFor(options)
  const sources = await sourcesFor(options)
  const failure = failureSignal()
  const choice = {kind: options.datapath, device: options.geneveInterface, allowedSources: sources.blocks, port: options.genevePort, maxFlows: options.maxFlows, leftClsact: host.leftClsact, recordClsact: host.recordClsact}
  const dataPath = await selectDataPath(choice, {...dataPathSettings(options), allowedSources: sources.blocks?.blocks, ...tunnelService(options, rules, sourceDest), onFailure: failure.fail})

  let status: Readiness = 'starting'
  const started = Date.now()
  // --inspect-fail closed: no engine attached, no new flows (the GWLB sends them to another appliance).
  const readiness = (): Readiness => (status === 'ready' && inspection?.refusesTraffic ? 'uninspected' : status)
  const report = () => ({...healthReport(options, dataPath, readiness(), started, inspection), policy: policy?.status})
  const servers = await openHttpPorts(options, readiness, report, sources.blocks).catch(async (error: unknown) => {
    await host.release()
    throw error
  })
  const stop = async () => {
    status = 'stopping'
    rules?.windDown()
    await dataPath.stop()
    await policy?.stop()
    await rules?.stop().catch((error: Error) => options.log(`rules: ${error.message}`))
    if (sourceDest) await sourceDest.restore().then((m) => m && options.log(m), (error: Error) => options.log(`source/destination check not restored: ${error.message}`))
    await Promise.all(servers.map((s) => s.close()))
    await host.release()
  }

  try {
    await rules?.start()
    await policy?.start()
    await dataPath.start()
  } catch (error) {
    await stop()
    throw explainStartFailure(error, options)
  }
  status = 'ready'
  const via = egressInterface && natEgress(options.mode) ? ` via ${egressInterface}` : ''
  const metrics = options.metricsListen ? `, report and metrics on ${listenText(options.metricsListen)}` : ''
  const inspected = inspection ? `, ${inspection.description}` : ''
  options.log(`ready: GENEVE on UDP ${options.genevePort} ${sources.text} through ${dataPath.description}, health on TCP ${[options.healthPort, ...(options.alsoHealthPorts ?? [])].join(' and ')}${metrics}, ${options.mode}${via}${rules ? '' : ', no rules (hooks only)'}${inspected}`)
  const reloadPolicy = async () => (policy ? policy.reload() : options.log('no --policy: nothing to reload'))
  return {report, reloadPolicy, stop, failed: failure.failed}
}

/** Puts back the sysctls a dead run changed, so that this run records (and a clean stop restores) the true originals. */
async function restoreSysctls(left: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(left)) await writeSysctl(key, value).catch(() => undefined)
}

async function checkPrivileges(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new UserError('gwlb appliance run needs root (TUN devices, raw sockets, nftables)', 'run it with sudo, or install the systemd unit with `gwlb appliance install`')
  await access('/dev/net/tun', fsConstants.R_OK | fsConstants.W_OK).catch(() => {
    throw new UserError('/dev/net/tun is missing', 'load the tun module (`modprobe tun`) or give the container the TUN device')
  })
}

/** The interface NAT egress leaves through: given, or the default route's; checked before anything changes. */
async function egressFor(options: ApplianceOptions): Promise<string | undefined> {
  const nat = natEgress(options.mode)
  const egress = options.egressInterface ?? (nat ? await defaultRouteInterface() : undefined)
  if (!nat || !options.rules) return egress
  if (!egress) throw new UserError(`${options.mode} mode needs an egress interface and there is no default route`, 'pass --egress-interface')
  // Masquerading needs an interface that exists and has an address: else traffic would leave un-NATed, or not at all.
  const addresses = await ipv4Addresses(egress)
  if (!addresses) throw new UserError(`egress interface ${egress} does not exist`, 'pass --egress-interface with an interface of this host (ip -br link lists them)')
  if (addresses.length === 0) throw new UserError(`egress interface ${egress} has no IPv4 address to masquerade to`, 'give it an address, or pass another --egress-interface')
  return egress
}

/** NAT egress on EC2 needs the instance's source/destination check off. */
async function sourceDestFor(options: ApplianceOptions): Promise<SourceDestCheck | undefined> {
  if (!natEgress(options.mode) || options.sourceDestCheck !== 'auto') return undefined
  // Loaded only where it is used: the EC2 SDK costs tens of megabytes the data plane does not otherwise need.
  return new (await import('./host/source-dest-check.js')).SourceDestCheck()
}

interface Sources {
  /** Undefined: from anywhere. */
  blocks?: Ipv4Blocks
  /** For the ready line: where from, and why. */
  text: string
}

/** The blocks GENEVE may come from: as given, or on EC2 the instance's own subnet; else from anywhere. */
async function sourcesFor(options: ApplianceOptions): Promise<Sources> {
  const given = options.allowedSources
  if (given === 'any') return {text: 'from any source'}
  if (given) return {blocks: Ipv4Blocks.of(given), text: `from ${blocksText(given)}`}
  try {
    const subnet = parseCidr(await instanceSubnet())
    if (typeof subnet === 'string') throw new Error(`instance metadata: ${subnet}`)
    return {blocks: Ipv4Blocks.of([subnet]), text: `from ${subnet.text} (this instance's subnet; with cross-zone load balancing pass every appliance subnet in --allowed-sources)`}
  } catch (error) {
    return {text: `from any source (no --allowed-sources, and ${(error as Error).message})`}
  }
}

/** The blocks, or for a long list how many and the first few: the ready line stays one readable line. */
function blocksText(blocks: Cidr[]): string {
  const SHOWN = 4
  const listed = blocks.slice(0, SHOWN).map((c) => c.text).join(', ')
  return blocks.length <= SHOWN ? listed : `${blocks.length} blocks (${listed}, …)`
}

const listenText = (l: {host: string; port: number}) => (l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`)

/** Rejects when the data path fails while running; observed by the command, not an unhandled rejection meanwhile. */
function failureSignal(): {failed: Promise<never>; fail(error: Error): void} {
  let fail!: (error: Error) => void
  const failed = new Promise<never>((_, reject) => (fail = reject))
  failed.catch(() => undefined)
  return {failed, fail}
}

function dataPathSettings(options: ApplianceOptions) {
  const {genevePort: port, idleTimeout, flowTimeout, maxFlows, maxTunnels, workers, batch, gso, log} = options
  return {port, idleTimeout, flowTimeout, maxFlows, maxTunnels, workers, batch, gso, log}
}

/** Brings each tunnel into service (rules, then the create hook) and out of it (destroy hook, then rules). */
function tunnelService(options: ApplianceOptions, rules: Rules | undefined, sourceDest: SourceDestCheck | undefined): Omit<DataPathEvents, 'onFailure'> {
  let sourceDestAsked = false
  return {
    log: options.log,
    async onTunnelUp(tunnel) {
      await rules?.addTunnel(tunnel)
      if (options.onCreate) await runHook(options.onCreate, 'CREATE', tunnel.names, options.log)
      if (sourceDest && !sourceDestAsked) {
        sourceDestAsked = true
        sourceDest.disable().then(options.log, (error: Error) => options.log(`source/destination check left as it is: ${error.message}`))
      }
    },
    async onTunnelDown(tunnel) {
      if (options.onDestroy) await runHook(options.onDestroy, 'DESTROY', tunnel.names, options.log)
      await rules?.removeTunnel(tunnel)
    },
  }
}

function healthReport(options: ApplianceOptions, dataPath: DataPath, status: Readiness, started: number, inspection: Inspection | undefined): HealthReport {
  const {counters} = dataPath
  return {
    inspection: inspection?.status,
    status,
    mode: options.mode,
    workers: options.workers,
    uptimeSeconds: Math.floor((Date.now() - started) / 1000),
    datapath: dataPath.active,
    traffic: counters.traffic(),
    kernelTraffic: counters.kernelTraffic(),
    drops: counters.drops(),
    crossWorkerReplies: counters.crossWorkerReplies(),
    coalesced: counters.coalesced(),
    groMerged: counters.groMerged(),
    flowEvictions: counters.evictions(),
    receiveBufferDrops: udpReceiveDrops(options.genevePort),
    flows: dataPath.liveFlows,
    tunnels: dataPath.tunnels.map((t) => ({
      ingress: t.ingress,
      egress: t.egress,
      eni: t.names.eniHex,
      state: t.state,
      traffic: counters.tunnelTraffic(t.index),
      createdAt: new Date(t.createdAt).toISOString(),
      idleSeconds: dataPath.idleSeconds(t),
    })),
  }
}

/** The health ports (what the GWLB checks) and, apart, the report and metrics. */
async function openHttpPorts(options: ApplianceOptions, status: () => Readiness, report: () => HealthReport, sources: Ipv4Blocks | undefined) {
  const health = new HealthServer(options.healthFormat, status)
  const reports = new ReportServer(report, (address) => isLoopback(address) || !sources || sources.hasText(address))
  const servers = [health, reports]
  const listen = async (server: HealthServer | ReportServer, what: string, flag: string, port: number, host?: string) => {
    try {
      await server.listen(port, host)
    } catch (error) {
      await Promise.all(servers.map((s) => s.close()))
      throw new UserError(`${what} ${port} is not free (${(error as Error).message})`, `stop what uses it or pass another ${flag}`)
    }
  }
  for (const port of [options.healthPort, ...(options.alsoHealthPorts ?? [])]) await listen(health, 'health port', '--health-port', port)
  if (options.metricsListen) await listen(reports, 'metrics port', '--metrics-listen', options.metricsListen.port, options.metricsListen.host)
  return servers
}

function explainStartFailure(error: unknown, options: ApplianceOptions): unknown {
  const errno = errnoOf(error)
  if (errno === EADDRINUSE) return new UserError(`UDP port ${options.genevePort} is already in use`, 'stop the other GENEVE listener (gwlbtun?) first')
  if (errno === EACCES || errno === EPERM)
    return new UserError(`not allowed to open sockets or TUN devices (${(error as Error).message})`, 'run as root or with CAP_NET_ADMIN and CAP_NET_RAW')
  return error
}
