import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, openSync} from 'node:fs'
import {copyFile, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {get} from 'node:http'
import {createServer} from 'node:net'
import {constants} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {UserError} from '../errors.js'
import {invokedAs} from '../invocation.js'
import {natEgress} from '../mode.js'
import {deleteNamespace, ENDPOINT_TUN, buildNetwork, labNamespaces, namespacePids, routeThroughEndpoint} from './network.js'
import {ADDRESSES, ADDRESSES6, ENDPOINT, applianceNodes, nameArg, namespaceOf, nodesOf, theLab, type LabSettings} from './plan.js'
import type {TargetState} from './health-checks.js'
import type {StandInConfig, StandInStatus} from './stand-in.js'
import {engineCommand} from '../appliance/host/engine-control.js'
import {inspectFlags, policyRulesOf, readAlerts, suricataArgv, type LabIds} from './ids.js'
import {checkRules} from '../ids-rules.js'
import type {Alert} from '../eve.js'
import {boundQueues, packetSocketInterfaces} from '../appliance/host/inspection.js'
import {MONITOR} from '../inspect-hook.js'
import {applianceRunArgs} from '../appliance/run-flags.js'
import {readPublished} from '../appliance/host/state.js'
import {replaceWhole} from '../appliance/host/system.js'
import {untilInForce, type PolicyReport} from '../appliance/policy/enforce.js'
import {loadPolicy, OPEN_POLICY, shortVersion} from '../policy.js'

const ROOT = process.env.GWLB_LAB_DIR ?? '/run/gwlb-lab'
const GWLB_BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('./daemon.js', import.meta.url))
const READY_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

const dirOf = (lab: string) => join(ROOT, lab)
/** The policy file every appliance of the lab runs (--policy), replaced whole by a push. */
const policyOf = (lab: string) => join(dirOf(lab), 'policy.yaml')
/** An appliance's GWLB_STATE_DIR, where it publishes the policy it runs. */
const stateOf = (lab: string, node: string) => join(dirOf(lab), 'state', node)

const logOf = (lab: string, node: string) => join(dirOf(lab), `${node}.log`)
const controlOf = (lab: string) => join(dirOf(lab), 'gwlb.sock')

/** What the lab's folder records: its settings, and the services' PIDs (by node) to stop or check. */
interface LabState {
  settings: LabSettings
  phase: 'building' | 'up'
  since: string
  pids: Record<string, number>
  upSeconds?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new UserError('gwlb lab needs root: it makes network namespaces, interfaces and routes', 'run it with sudo')
}

async function readState(lab: string): Promise<LabState | undefined> {
  const text = await readFile(join(dirOf(lab), 'lab.json'), 'utf8').catch(() => undefined)
  return text ? (JSON.parse(text) as LabState) : undefined
}

const writeState = (state: LabState) => writeFile(join(dirOf(state.settings.name), 'lab.json'), JSON.stringify(state, null, 2))

/** Whether pid is still the process it was (its command line says so: a PID can be reused). */
async function isProcess(pid: number | undefined, marker: string): Promise<boolean> {
  if (!pid) return false
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  return cmdline.includes(marker)
}

const isAppliance = (pid: number | undefined) => isProcess(pid, 'appliance\0run')
const isStandIn = (pid: number | undefined) => isProcess(pid, 'stand-in')

/**
 * The lab's hold for a change (up, down, fail, heal): one at a time. An abstract Unix socket bound by name is
 * the lock: binding it is atomic, and the kernel lets go of it when its holder exits, however it died. The PID
 * beside it only serves the message.
 */
async function lock(lab: string): Promise<() => Promise<void>> {
  await mkdir(dirOf(lab), {recursive: true, mode: 0o700})
  const holderFile = join(dirOf(lab), 'lock')
  const socket = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.listen({path: `\0gwlb-lab-${lab}`}, resolve)
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    const holder = (await readFile(holderFile, 'utf8').catch(() => '')) || 'unknown'
    throw new UserError(`another gwlb lab command (pid ${holder}) is changing ${theLab(lab)}`, 'wait for it to end, then run this again', 'locked')
  }
  socket.unref()
  await writeFile(holderFile, String(process.pid))
  return async () => {
    await rm(holderFile, {force: true})
    socket.close()
  }
}

/** A lab node's service: started in its namespace, detached from this command, its output in the lab folder. */
function startService(lab: string, node: string, argv: string[], env: Record<string, string> = {}, log = node): number {
  return startProcess(lab, node, [process.execPath, ...argv], env, log)
}

function startProcess(lab: string, node: string, command: string[], env: Record<string, string>, logName: string): number {
  const log = openSync(logOf(lab, logName), 'a')
  try {
    const child = spawn('ip', ['netns', 'exec', namespaceOf(lab, node), ...command], {
      detached: true, stdio: ['ignore', log, log], env: {...process.env, NO_COLOR: '1', ...env},
    })
    child.unref()
    return child.pid!
  } finally {
    closeSync(log)
  }
}

function applianceArgv(s: LabSettings, node: string): string[] {
  return [GWLB_BIN, 'appliance', 'run', ...applianceRunArgs({
    mode: s.mode, 'health-port': s.health.port, 'allowed-sources': ADDRESSES.applianceSubnet, 'source-dest-check': 'skip',
    'egress-interface': natEgress(s.mode) ? 'eth1' : undefined, ...(s.ids ? inspectFlags(s.ids, idsDirOf(s.name, node)) : {}), policy: policyOf(s.name),
  }), ...s.applianceArgs]
}

/** Where an appliance's engine keeps its logs (eve.json), pid and control socket. */
const idsDirOf = (lab: string, node: string) => join(dirOf(lab), 'ids', node)
/** The lab's own copy of the rules the engines load (a later change of the operator's file changes nothing by itself). */
const rulesOf = (lab: string) => join(dirOf(lab), 'ids.rules')

/** Starts Suricata in the appliance's namespace, on its inspection hook. */
async function startEngine(s: LabSettings, ids: LabIds, node: string): Promise<number> {
  await mkdir(idsDirOf(s.name, node), {recursive: true})
  return startProcess(s.name, node, await suricataArgv(ids, idsDirOf(s.name, node)), {}, `${node}-suricata`)
}

/** Whether the appliance has made its hook: the monitor interface (ids; NFQUEUE needs nothing made first). */
async function hookMade(ids: LabIds, appliancePid: number): Promise<boolean> {
  return ids.mode === 'ips' || new RegExp(`^\\s*${MONITOR}:`, 'm').test(await readFile(`/proc/${appliancePid}/net/dev`, 'utf8'))
}

/** Whether an appliance's engine has hold of its hook: its packet socket (ids) or every queue (ips), as its namespace's /proc says. */
async function engineAttached(ids: LabIds, pid: number): Promise<boolean> {
  const net = `/proc/${pid}/net`
  return ids.mode === 'ips' ? (await boundQueues(net)).size >= ids.queues : (await packetSocketInterfaces(net)).length > 0
}

/** Starts appliance-i's `gwlb appliance run`, its state kept in the lab's folder. */
const startAppliance = (s: LabSettings, node: string) =>
  startService(s.name, node, applianceArgv(s, node), {GWLB_STATE_DIR: stateOf(s.name, node)})

function standInConfig(s: LabSettings): StandInConfig {
  return {
    tun: ENDPOINT_TUN, mtu: 8500, node: ADDRESSES.node, endpoint: ENDPOINT, health: s.health, failover: s.failover, stickiness: s.stickiness,
    targets: applianceNodes(s.appliances).map((name, i) => ({name, address: ADDRESSES.applianceAddress(i + 1)})),
    control: controlOf(s.name),
  }
}

/** GET on the stand-in's control socket. */
function ask<T>(lab: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = get({socketPath: controlOf(lab), path, timeout: 5000}, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`stand-in: HTTP ${res.statusCode} for ${path}`))))
    })
    req.once('timeout', () => req.destroy(new Error('the GWLB stand-in did not answer')))
    req.once('error', reject)
  })
}

async function lastLines(lab: string, node: string): Promise<string> {
  const text = await readFile(logOf(lab, node), 'utf8').catch(() => '')
  return text.trim().split('\n').slice(-3).join(' | ') || '(no output)'
}

/** How `until` is waited for: by up (which takes the lab down if it fails) or by heal (which leaves it). */
interface Wait {
  during: string
  then: string
  abort?: AbortSignal
}

const COMING_UP: Omit<Wait, 'abort'> = {during: 'while the lab came up', then: 'the lab was taken down'}

/** Waits until `ready` holds, failing early (with the node's last log lines) if its service has gone. */
async function until(lab: string, node: string, alive: () => Promise<boolean>, ready: () => Promise<boolean>, wait: Wait): Promise<void> {
  for (const deadline = Date.now() + READY_TIMEOUT_MS; ; await sleep(100)) {
    if (wait.abort?.aborted) throw interrupted()
    if (await ready().catch(() => false)) return
    if (!(await alive())) throw new UserError(`${node} stopped ${wait.during}: ${await lastLines(lab, node)}`, `see ${logOf(lab, node)}; ${wait.then}`)
    if (Date.now() > deadline) throw new UserError(`${node} was not ready after ${READY_TIMEOUT_MS / 1000} s: ${await lastLines(lab, node)}`, wait.then)
  }
}

const interrupted = () => new UserError('interrupted', 'what was built was taken down; run `gwlb lab up` again when ready', 'interrupted')

/** Until the appliance's health port answers the stand-in (one probe, apart from the target group's checks). */
const answers = (s: LabSettings, i: number) => async () => (await ask<{ok: boolean}>(s.name, `/probe?target=${i - 1}`)).ok

export interface UpResult {
  settings: LabSettings
  seconds: number
  nodes: string[]
}

/**
 * Builds the lab: namespaces and links, the internet host, N appliances running `gwlb appliance run`, the GWLB
 * stand-in and the routes into its endpoint; done when every appliance answers its health check. A lab left by
 * a crash is cleaned first; one that is up is refused. Ctrl-C or any failure takes down what was built.
 */
export async function labUp(s: LabSettings, progress: (line: string) => void): Promise<UpResult> {
  requireRoot()
  const started = Date.now()
  // A rules file Suricata would not load is refused before anything is made, the lab's folder included.
  if (s.ids) await checkRules(s.ids.rules, {needEngine: true})
  // So is a policy that does not check.
  if (s.policy) await loadPolicy(s.policy)
  const policy = s.policy ? await readFile(s.policy, 'utf8') : OPEN_POLICY
  const unlock = await lock(s.name)
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  try {
    const running = await readState(s.name)
    if (running?.phase === 'up' && (await isStandIn(running.pids.gwlb)))
      throw new UserError(`${theLab(s.name)} is up (since ${running.since})`, `use it (gwlb lab status${nameArg(s.name)}), or take it down first with \`gwlb lab down${nameArg(s.name)}\``, 'refused')
    if ((await teardown(s.name)).length) progress('removed what an earlier lab left behind')
    const state: LabState = {settings: s, phase: 'building', since: new Date().toISOString(), pids: {}}
    await mkdir(join(dirOf(s.name), 'state'), {recursive: true})
    if (s.ids) {
      await copyFile(s.ids.rules, rulesOf(s.name))
      state.settings = {...s, ids: {...s.ids, rules: rulesOf(s.name)}}
    }
    await writeFile(policyOf(s.name), policy)
    await writeState(state)
    try {
      progress(`network: ${nodesOf(s).length} namespaces`)
      await buildNetwork(s)
      // Each engine's folder before its appliance starts: the appliance writes the policy's domain rules there.
      for (const node of s.ids ? applianceNodes(s.appliances) : []) {
        await mkdir(idsDirOf(s.name, node), {recursive: true})
        await writeFile(policyRulesOf(idsDirOf(s.name, node)), '')
      }
      state.pids.internet = startService(s.name, 'internet', [DAEMON, 'internet'])
      for (const node of applianceNodes(s.appliances)) state.pids[node] = startAppliance(s, node)
      state.pids.gwlb = startService(s.name, 'gwlb', [DAEMON, 'stand-in', JSON.stringify(standInConfig(s))])
      await writeState(state)
      progress(`GWLB stand-in, internet host and ${s.appliances} appliance(s) (${s.mode}) starting`)
      await until(s.name, 'gwlb', () => isStandIn(state.pids.gwlb), async () => Boolean(await ask(s.name, '/status')), {...COMING_UP, abort: abort.signal})
      await routeThroughEndpoint(s)
      // The engines before the health checks: an appliance that fails closed answers 503 until its engine is there.
      const ids = state.settings.ids
      if (ids) {
        progress(`Suricata (${ids.mode}) on ${s.appliances} appliance(s)`)
        for (const node of applianceNodes(s.appliances)) {
          await until(s.name, node, () => isAppliance(state.pids[node]), () => hookMade(ids, state.pids[node]!), {...COMING_UP, abort: abort.signal})
          state.pids[`${node}-suricata`] = await startEngine(s, ids, node)
        }
        await writeState(state)
        for (const node of applianceNodes(s.appliances)) {
          const pid = state.pids[`${node}-suricata`]!
          await until(s.name, `${node}-suricata`, () => isProcess(pid, 'suricata'), () => engineAttached(ids, pid), {...COMING_UP, abort: abort.signal})
        }
      }
      for (const [i, node] of applianceNodes(s.appliances).entries())
        await until(s.name, node, () => isAppliance(state.pids[node]), answers(s, i + 1), {...COMING_UP, abort: abort.signal})
      state.phase = 'up'
      state.upSeconds = (Date.now() - started) / 1000
      await writeState(state)
      return {settings: s, seconds: state.upSeconds, nodes: nodesOf(s)}
    } catch (error) {
      await teardown(s.name)
      await rm(dirOf(s.name), {recursive: true, force: true})
      throw error
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
    await unlock()
  }
}

/** SIGTERM to the processes `running` lists; SIGKILL to those it still lists after 10 s. */
async function terminate(running: () => Promise<number[]>): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig)
    } catch {
      // gone already
    }
  }
  for (const pid of await running()) signal(pid, 'SIGTERM')
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; Date.now() < deadline && (await running()).length; ) await sleep(50)
  for (const pid of await running()) signal(pid, 'SIGKILL')
}

/**
 * Stops every process in the lab's namespaces (SIGTERM, then SIGKILL after 10 s: the appliances undo their
 * rules on SIGTERM) and deletes the namespaces, with their interfaces, routes and rules. Returns the
 * namespaces removed.
 */
async function teardown(lab: string): Promise<string[]> {
  const namespaces = await labNamespaces(lab)
  await terminate(async () => (await Promise.all(namespaces.map(namespacePids))).flat())
  for (const ns of namespaces) await deleteNamespace(ns)
  await rm(join(dirOf(lab), 'state'), {recursive: true, force: true})
  await rm(join(dirOf(lab), 'ids'), {recursive: true, force: true})
  await rm(controlOf(lab), {force: true})
  return namespaces
}

/** Takes the lab down, whether it is up, half built or left by a crash. */
export async function labDown(lab: string): Promise<{namespaces: string[]}> {
  requireRoot()
  const unlock = await lock(lab)
  try {
    return {namespaces: await teardown(lab)}
  } finally {
    await unlock()
    await rm(dirOf(lab), {recursive: true, force: true})
  }
}

/** The lab's state, if it is up; otherwise a one-line error that says how to start one. */
async function upState(lab: string): Promise<LabState> {
  const state = await readState(lab)
  if (state?.phase !== 'up' || !(await isStandIn(state.pids.gwlb)))
    throw new UserError(`${theLab(lab)} is not up`, `start it with \`sudo ${invokedAs()} lab up${nameArg(lab)}\``)
  return state
}

export interface LabStatus {
  name: string
  mode: LabSettings['mode']
  since: string
  upSeconds?: number
  /** Where to send test traffic from and to (gwlb lab exec client …). */
  hosts: {client: {ipv4: string; ipv6: string}; internet: {ipv4: string; ipv6: string}}
  appliances: (StandInStatus['targets'][number] & {node: string; egress: string; dataPlane: 'running' | 'stopped'; policy?: PolicyReport})[]
  standIn: Omit<StandInStatus, 'targets' | 'flows'>
  flows: StandInStatus['flows']
}

export async function labStatus(lab: string): Promise<LabStatus> {
  requireRoot()
  const state = await upState(lab)
  const {targets, flows, ...standIn} = await ask<StandInStatus>(lab, '/status')
  const appliances = await Promise.all(targets.map(async (t, i) => ({
    node: t.name, ...t, egress: ADDRESSES.applianceEgress(i + 1),
    dataPlane: (await isAppliance(state.pids[t.name])) ? 'running' as const : 'stopped' as const,
    policy: (await readPublished<PolicyReport>(stateOf(lab, t.name), 'policy'))[0],
  })))
  const hosts = {client: {ipv4: ADDRESSES.client, ipv6: ADDRESSES6.client}, internet: {ipv4: ADDRESSES.internet, ipv6: ADDRESSES6.internet}}
  return {name: lab, mode: state.settings.mode, since: state.since, upSeconds: state.upSeconds, hosts, appliances, standIn, flows}
}

function checkAppliance(state: LabState, node: string): void {
  const n = /^appliance-(\d+)$/.exec(node)
  if (!n || Number(n[1]) < 1 || Number(n[1]) > state.settings.appliances)
    throw new UserError(`${node} is not an appliance of this lab`, `give one of ${applianceNodes(state.settings.appliances).join(', ')}`, 'usage')
}

export interface FailoverResult {
  node: string
  /** The target's state in the stand-in when done (after waiting, if asked to). */
  health: string
  /** Seconds from the data plane's stop (or start) to the stand-in's verdict, when waited for. */
  seconds?: number
  /** What happens next while the stand-in has not yet judged it, and to the flows it holds. */
  outlook?: string
}

/** What a failed appliance's traffic meets until the stand-in's checks catch up with it, by the lab's settings. */
function failOutlook(s: LabSettings): string {
  const {unhealthyThreshold: n, intervalSeconds: every} = s.health
  const flows = s.failover === 'rebalance' ? 'then its flows move to a healthy appliance (a NATed flow still breaks)' : 'its flows stay on it and break (failover no-rebalance)'
  return `until ${n} checks in a row fail (every ${every} s: up to ~${n * every} s) new flows still go to it and are lost; ${flows}`
}

/** The stand-in's verdict on an appliance. */
const verdict = async (lab: string, node: string) => (await ask<StandInStatus>(lab, '/status')).targets.find((t) => t.name === node)!.state

/** Waits until the stand-in's verdict on the appliance is `want`; seconds since `from`. */
async function untilHealth(lab: string, node: string, want: TargetState, from: number): Promise<number> {
  while ((await verdict(lab, node)) !== want) await sleep(100)
  return (Date.now() - from) / 1000
}

/**
 * Under the lab's lock, with the lab up and `node` one of its appliances: makes the change, which returns when
 * it took effect; then, if asked, waits for the stand-in's verdict `want`, and says how long it took from then.
 */
async function changeAppliance(lab: string, node: string, want: TargetState, wait: boolean, change: (state: LabState) => Promise<number>): Promise<FailoverResult> {
  requireRoot()
  const unlock = await lock(lab)
  try {
    const state = await upState(lab)
    checkAppliance(state, node)
    const from = await change(state)
    const seconds = wait ? await untilHealth(lab, node, want, from) : undefined
    const health = await verdict(lab, node)
    return {node, seconds, health, ...(want === 'unhealthy' && health !== 'unhealthy' ? {outlook: failOutlook(state.settings)} : {})}
  } finally {
    await unlock()
  }
}

/** Stops an appliance's data plane (SIGTERM: it removes its tunnels and rules), as a failed instance would. */
export const labFail = (lab: string, node: string, wait: boolean) =>
  changeAppliance(lab, node, 'unhealthy', wait, async (state) => {
    const pid = state.pids[node]
    await terminate(async () => ((await isAppliance(pid)) ? [pid!] : []))
    state.pids[node] = 0
    await writeState(state)
    return Date.now()
  })

/** Starts an appliance's data plane again; returns once it answers health checks (or, if asked, is healthy). */
export const labHeal = (lab: string, node: string, wait: boolean) =>
  changeAppliance(lab, node, 'healthy', wait, async (state) => {
    const started = Date.now()
    if (!(await isAppliance(state.pids[node]))) {
      state.pids[node] = startAppliance(state.settings, node)
      await writeState(state)
    }
    await until(lab, node, () => isAppliance(state.pids[node]), answers(state.settings, Number(node.split('-')[1])),
      {during: 'as it started again', then: `the lab stays up without it; fix what its log says and run \`gwlb lab heal ${node}\` again`})
    return started
  })

/** The engines' alerts, all appliances', oldest first. */
export async function labAlerts(lab: string): Promise<Alert[]> {
  requireRoot()
  const state = await upState(lab)
  if (!state.settings.ids) throw new UserError(`${theLab(lab)} runs no inspection engine`, `bring it up with one: gwlb lab down${nameArg(lab)}, then gwlb lab up${nameArg(lab)} --ids suricata`)
  const alerts = await Promise.all(applianceNodes(state.settings.appliances).map((node) => readAlerts(join(idsDirOf(lab, node), 'eve.json'), node)))
  return alerts.flat().sort((a, b) => a.time.localeCompare(b.time))
}

export interface RulesResult {
  /** SHA-256 of the rules every engine now runs. */
  sha256: string
  /** Each appliance's engine: reloaded, with the same process. */
  engines: {appliance: string; pid: number; seconds: number}[]
}

/**
 * A new rules file for every engine, live: checked with Suricata's own test mode first (a file it refuses
 * changes nothing anywhere), then each engine reloads it (its control socket's reload-rules) without a restart
 * of the engine or the appliance. An engine that cannot reload keeps the rules it had and is named.
 */
export async function labRules(lab: string, file: string): Promise<RulesResult> {
  requireRoot()
  const unlock = await lock(lab)
  try {
    const state = await upState(lab)
    const ids = state.settings.ids
    if (!ids) throw new UserError(`${theLab(lab)} runs no inspection engine`, `bring it up with one: gwlb lab down${nameArg(lab)}, then gwlb lab up${nameArg(lab)} --ids suricata`)
    await checkRules(file, {needEngine: true})
    await copyFile(file, ids.rules)
    const engines = []
    for (const node of applianceNodes(state.settings.appliances)) {
      const started = Date.now()
      const answer = await engineCommand(join(idsDirOf(lab, node), 'suricata.sock'), 'reload-rules').catch((error: Error) => ({return: 'NOK', message: error.message}))
      if (answer.return !== 'OK') throw new UserError(`${node}'s engine did not reload the rules: ${JSON.stringify(answer.message)}`, `see ${logOf(lab, `${node}-suricata`)}; the engines before it run the new rules`)
      engines.push({appliance: node, pid: state.pids[`${node}-suricata`]!, seconds: (Date.now() - started) / 1000})
    }
    return {sha256: createHash('sha256').update(await readFile(ids.rules)).digest('hex'), engines}
  } finally {
    await unlock()
  }
}

export interface PolicyPushResult {
  sha256: string
  /** Each running appliance: the policy in force, from its own report, and how long it took to say so. */
  appliances: {appliance: string; seconds: number}[]
  /** Appliances whose data plane is stopped (lab fail): they start with it (lab heal). */
  stopped: string[]
}

/**
 * A new egress policy for every appliance, live: checked first (a file with an error changes nothing anywhere),
 * put in place of the lab's policy file whole (rename), then each running appliance is told (SIGHUP) and
 * reports what it put in force. One that refuses it keeps the policy it had, and is named.
 */
export async function labPolicyPush(lab: string, file: string): Promise<PolicyPushResult> {
  requireRoot()
  const policy = await loadPolicy(file)
  const unlock = await lock(lab)
  try {
    const state = await upState(lab)
    const since = Date.now()
    await replaceWhole(policyOf(lab), await readFile(file))
    const nodes = applianceNodes(state.settings.appliances)
    const running = (await Promise.all(nodes.map(async (n) => ((await isAppliance(state.pids[n])) ? n : '')))).filter(Boolean)
    for (const node of running) process.kill(state.pids[node]!, 'SIGHUP')
    const appliances = await Promise.all(running.map(async (node) => {
      const outcome = await untilInForce(async () => (await readPublished<PolicyReport>(stateOf(lab, node), 'policy'))[0], policy.sha256, since)
      if (outcome === 'timeout') throw new UserError(`${node} did not report policy ${shortVersion(policy.sha256)} within 15 s`, `see ${logOf(lab, node)}`)
      if (outcome !== 'in-force') throw new UserError(`${node} refused policy ${shortVersion(policy.sha256)}: ${outcome.refused}`, `it keeps policy ${shortVersion(outcome.keeps ?? '')}; see ${logOf(lab, node)}`)
      return {appliance: node, seconds: (Date.now() - since) / 1000}
    }))
    return {sha256: policy.sha256, appliances, stopped: nodes.filter((n) => !running.includes(n))}
  } finally {
    await unlock()
  }
}

/** Runs a command in a node's namespace, with this terminal; resolves to its exit code. */
export async function labExec(lab: string, node: string, command: string[]): Promise<number> {
  requireRoot()
  const state = await upState(lab)
  const nodes = nodesOf(state.settings)
  if (!nodes.includes(node)) throw new UserError(`no node ${node} in ${theLab(lab)}`, `give one of ${nodes.join(', ')}`, 'usage')
  if (command.length === 0) throw new UserError('no command to run', `give one after --, e.g. gwlb lab exec ${node} -- ip -br address`, 'usage')
  const child = spawn('ip', ['netns', 'exec', namespaceOf(lab, node), ...command], {stdio: 'inherit'})
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)))
  })
}
