import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import type {LabStatus} from '../../src/lab/lab.js'
import {gwlb, gwlbAsync, gwlbJson} from './cli.js'

/** Checks every second, healthy after 2 passes, unhealthy after 2 failures: a failover in about 2 s. */
export const FAST_HEALTH = ['--health-interval', '1', '--healthy-threshold', '2', '--unhealthy-threshold', '2']
export const INTERNET = '198.18.0.10'

const namespaces = (name: string) =>
  execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'}).split('\n').map((l) => l.split(' ')[0]!).filter((ns) => ns.startsWith(`gwlb-${name}-`))

/** A lab of its own for a test file (a name unique to this run), driven through the real gwlb binary. */
export class LabUnderTest {
  readonly name: string

  constructor(tag: string) {
    this.name = `${tag}${process.pid % 100_000}`
  }

  up(...args: string[]) {
    return this.cli('up', ...args)
  }

  /** The same without blocking the test's worker (an up that starts engines takes long enough to stall its reports). */
  upAsync(...args: string[]) {
    return this.cliAsync('up', ...args)
  }

  /** `gwlb lab exec NODE -- …` to its end. */
  exec(node: string, ...command: string[]) {
    return this.cli('exec', node, '--', ...command)
  }

  /** The same without waiting: for a transfer that runs while the test does something else. */
  execAsync(node: string, ...command: string[]) {
    return gwlbAsync(['lab', 'exec', '--name', this.name, node, '--', ...command])
  }

  /** curl from the client to the internet host; stdout, or a thrown error with curl's. */
  curl(path = '/', ...options: string[]): string {
    const r = this.exec('client', 'curl', '-sS', '-m', '10', ...options, `http://${INTERNET}${path}`)
    if (r.status !== 0) throw new Error(`curl ${path} exited ${r.status}: ${r.stderr}`)
    return r.stdout
  }

  status(): LabStatus {
    return gwlbJson<LabStatus>(['lab', 'status', '--name', this.name])
  }

  /**
   * Until the stand-in takes every appliance as healthy: `up` returns once they answer, and new flows go only
   * to the healthy ones, so a test of the spread that starts earlier may see one appliance take them all.
   */
  async allHealthy(): Promise<void> {
    for (const deadline = Date.now() + 15_000; ; await sleep(250)) {
      const states = this.status().appliances.map((a) => a.state)
      if (states.every((s) => s === 'healthy')) return
      if (Date.now() > deadline) throw new Error(`appliances not all healthy after 15 s: ${states.join(', ')}`)
    }
  }

  /** `gwlb lab COMMAND --name <this lab> ARGS…`. */
  cli(command: string, ...args: string[]) {
    return gwlb(['lab', command, '--name', this.name, ...args])
  }

  /** The same without blocking the test's worker (a loaded machine makes a stop of an appliance take seconds). */
  cliAsync(command: string, ...args: string[]) {
    return gwlbAsync(['lab', command, '--name', this.name, ...args])
  }

  down() {
    return this.cli('down')
  }

  /** The PID the lab recorded for a node's process (e.g. appliance-1, appliance-1-suricata). */
  pidOf(node: string): number {
    const pid = (JSON.parse(readFileSync(`/run/gwlb-lab/${this.name}/lab.json`, 'utf8')) as {pids: Record<string, number>}).pids[node]
    // Never 0 or nothing: process.kill(0) would end this test run's whole process group.
    if (!pid || pid <= 0) throw new Error(`the lab records no process for ${node}`)
    return pid
  }

  /** What of the lab is on this host: its namespaces, their processes, its folder. */
  leftovers(): {namespaces: string[]; pids: string[]; folder: boolean} {
    const left = namespaces(this.name)
    const pids = left.flatMap((ns) => execFileSync('ip', ['netns', 'pids', ns], {encoding: 'utf8'}).split('\n').filter(Boolean))
    return {namespaces: left, pids, folder: existsSync(`/run/gwlb-lab/${this.name}`)}
  }
}

/** The host's own interfaces (none of the lab's may ever appear there). */
export const hostLinks = () => execFileSync('ip', ['-br', 'link'], {encoding: 'utf8'}).split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean).sort()
