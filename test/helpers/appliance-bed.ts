import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {renderUnit} from '../../src/appliance/host/systemd.js'
import {Lab, type Host} from './netns.js'
import {encapsulate, type GwlbOptions} from './packets.js'
import {Peer, type UdpEvent} from './peer.js'

const gwlbCli = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const sandbox = fileURLToPath(new URL('../fixtures/sandbox.sh', import.meta.url))

/**
 * A folder the sandboxed appliance can see (its /tmp is a private one, as systemd's PrivateTmp makes it):
 * for hooks, tools and packages it runs. Only readable to it, unless given to the bed as `writable`.
 */
export const scratchDir = (prefix: string) => mkdtempSync(join('/run', prefix))

export const GWLB_IP = '10.77.0.1'
export const APPLIANCE_IP = '10.77.0.2'
export const INTERNET_IP = '198.18.0.10'
export const APPLIANCE_EGRESS_IP = '198.18.0.1'
/** GWLB sends from this port in the simulation, to show that replies go back to the port it sent from. */
export const GWLB_SOURCE_PORT = 51000
export const HEALTH_PORT = 8080
/** Where the appliance serves its report and metrics by default: loopback, so asked from its own namespace. */
export const METRICS = '127.0.0.1:9641'
/** The GWLB's subnet, which the bed's appliance takes GENEVE from (what init passes as --allowed-sources). */
export const GWLB_SUBNET = '10.77.0.0/24'

/**
 * The suite runs against each data path: GWLB_TEST_DATAPATH=bpf|tun|auto (unset: the default) is passed to every
 * appliance a test does not give a --datapath of its own.
 */
const datapathArgs = (args: string[]) => (process.env.GWLB_TEST_DATAPATH && !args.includes('--datapath') ? ['--datapath', process.env.GWLB_TEST_DATAPATH] : [])

/**
 * Three namespaces: a simulated GWLB node (10.77.0.1), the appliance (10.77.0.2 towards the GWLB,
 * 198.18.0.1 towards the internet, default route there) and an "internet" host (198.18.0.10) that echoes
 * UDP on port 7 and accepts TCP on port 8080. The appliance runs the real `gwlb appliance run`.
 */
export class ApplianceBed {
  readonly lab = new Lab()
  readonly gwlb: Host
  readonly appliance: Host
  readonly internet: Host
  readonly gwlbPeer: Peer
  readonly internetPeer: Peer
  /** On the appliance itself: reads the report and metrics, which only loopback gets by default. */
  readonly localPeer: Peer
  process?: ChildProcess
  output = ''
  /** Paths the appliance may write (the unit's ReadWritePaths=, `gwlb appliance install --writable`). */
  writable: string[] = []
  /** Capabilities taken out of the unit's bounding set (an older unit, a stricter operator). */
  withoutCapabilities: string[] = []
  private readonly unitDir = scratchDir('gwlb-bed-unit-')

  /** cli: the gwlb entry point to run (this checkout's, or an installed package's). */
  constructor(readonly cli = gwlbCli) {
    this.gwlb = this.lab.host('gwlb')
    this.appliance = this.lab.host('app')
    this.internet = this.lab.host('inet')
    this.lab.link(this.gwlb, 'g0', `${GWLB_IP}/24`, this.appliance, 'a0', `${APPLIANCE_IP}/24`)
    this.lab.link(this.appliance, 'e0', `${APPLIANCE_EGRESS_IP}/24`, this.internet, 'i0', `${INTERNET_IP}/24`)
    this.appliance.run('ip', 'route', 'add', 'default', 'via', INTERNET_IP)
    this.gwlbPeer = new Peer(this.gwlb)
    this.internetPeer = new Peer(this.internet)
    this.localPeer = new Peer(this.appliance)
  }

  async setUp(): Promise<void> {
    await Promise.all([this.gwlbPeer.ready(), this.internetPeer.ready(), this.localPeer.ready()])
    this.gwlbPeer.command({op: 'bind', id: 'tx', port: GWLB_SOURCE_PORT, address: GWLB_IP})
    this.gwlbPeer.command({op: 'bind', id: 'rx', port: 6081, address: GWLB_IP})
    this.internetPeer.command({op: 'udp-echo', port: 7})
    this.internetPeer.command({op: 'tcp-listen', port: 8080})
    await this.gwlbPeer.next((e) => e.event === 'bound' && e.id === 'tx')
    await this.gwlbPeer.next((e) => e.event === 'bound' && e.id === 'rx')
    await this.internetPeer.next((e) => e.event === 'listening' && e.port === 7)
    await this.internetPeer.next((e) => e.event === 'listening' && e.port === 8080)
  }

  /**
   * Starts `gwlb appliance run` in the appliance namespace, sandboxed as its systemd unit says (only the network
   * capabilities, no new privileges, the system read-only, a private /tmp), and waits until its health port
   * says 200; returns the health answers seen on the way.
   */
  async start(...args: string[]): Promise<(number | 'down')[]> {
    return this.startWith({}, ...args)
  }

  async startWith(env: Record<string, string>, ...args: string[]): Promise<(number | 'down')[]> {
    this.output = ''
    const command = [process.execPath, this.cli, 'appliance', 'run', '--health-port', String(HEALTH_PORT), '--source-dest-check', 'skip',
      ...(args.includes('--allowed-sources') ? [] : ['--allowed-sources', GWLB_SUBNET]), ...datapathArgs(args), ...args]
    const unit = join(this.unitDir, 'gwlb-appliance.service')
    const text = renderUnit(command, {writable: this.writable})
    writeFileSync(unit, this.withoutCapabilities.reduce((t, cap) => t.replace(` ${cap}`, ''), text))
    const child = this.appliance.spawn('bash', [sandbox, unit, ...command], {
      // The gwlb it runs stays in sight if it is in /tmp (a checkout there; an appliance has it in /opt/gwlb).
      env: {...process.env, NO_COLOR: '1', GWLB_SANDBOX_SHOW: dirname(dirname(this.cli)), ...env},
    })
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()))
    this.process = child
    return this.untilHealth((s) => s === 200, 15_000)
  }

  /** Polls the health port from the GWLB's side; returns the statuses seen ('down' for no answer). */
  async untilHealth(done: (status: number | 'down') => boolean, timeoutMs: number): Promise<(number | 'down')[]> {
    const seen: (number | 'down')[] = []
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const r = await this.gwlbPeer.http(`http://${APPLIANCE_IP}:${HEALTH_PORT}/`)
      const status = r.status ?? 'down'
      if (seen.at(-1) !== status) seen.push(status)
      if (done(status)) return seen
      if (this.process?.exitCode !== null && this.process?.exitCode !== undefined) throw new Error(`appliance exited (${this.process.exitCode}):\n${this.output}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`health never reached the expected state; saw ${seen.join(' → ')}\n${this.output}`)
  }

  /** SIGTERM, and the exit code once it has exited. */
  async stop(): Promise<number | null> {
    const child = this.process
    if (!child || child.exitCode !== null) return child?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  /** Sends an inner packet as GWLB would, through the endpoint `o.eni`. */
  send(o: GwlbOptions, inner: Buffer): Buffer {
    const datagram = encapsulate(o, inner)
    this.sendRaw(datagram)
    return datagram
  }

  sendRaw(datagram: Buffer): void {
    this.gwlbPeer.command({op: 'send', id: 'tx', to: APPLIANCE_IP, port: 6081, hex: datagram.toString('hex')})
  }

  /** The next GENEVE datagram the appliance sent back to the GWLB that matches. */
  async reply(match: (payload: Buffer) => boolean = () => true, timeoutMs = 3000): Promise<UdpEvent & {payload: Buffer}> {
    const e = await this.gwlbPeer.next<UdpEvent>((x) => x.event === 'udp' && x.id === 'rx' && match(Buffer.from(x.hex as string, 'hex')), timeoutMs)
    return {...e, payload: Buffer.from(e.hex, 'hex')}
  }

  async health(path = '/', port = HEALTH_PORT): Promise<{status?: number; body?: string; headers?: Record<string, string>; error?: string}> {
    return this.gwlbPeer.http(`http://${APPLIANCE_IP}:${port}${path}`)
  }

  /** The appliance's report as JSON, from its own namespace. */
  async report<T = Record<string, unknown>>(): Promise<T> {
    const answer = await this.localPeer.http(`http://${METRICS}/json`)
    if (answer.status !== 200) throw new Error(`report: ${answer.status ?? answer.error}`)
    return JSON.parse(answer.body!) as T
  }

  /** The report once `done` holds for it, or the last one read when timeoutMs have passed. */
  async reportWhen<T = Record<string, unknown>>(done: (report: T) => boolean, timeoutMs = 20_000): Promise<T> {
    let report = await this.report<T>()
    for (const deadline = Date.now() + timeoutMs; !done(report) && Date.now() < deadline; report = await this.report<T>())
      await new Promise((r) => setTimeout(r, 50))
    return report
  }

  /** Prometheus metrics, from the appliance's own namespace. */
  async metrics(): Promise<string> {
    const answer = await this.localPeer.http(`http://${METRICS}/metrics`)
    if (answer.status !== 200) throw new Error(`metrics: ${answer.status ?? answer.error}`)
    return answer.body!
  }

  links(): string[] {
    return this.appliance
      .run('ip', '-br', 'link', 'show')
      .split('\n')
      .map((l) => l.split(/\s+/)[0]!)
      .filter(Boolean)
  }

  async cleanup(): Promise<void> {
    await this.stop()
    for (const peer of [this.gwlbPeer, this.internetPeer, this.localPeer]) peer.close()
    rmSync(this.unitDir, {recursive: true, force: true})
    this.lab.cleanup()
  }
}
