import {execFileSync, spawn, type ChildProcess, type SpawnOptions} from 'node:child_process'

/** Every namespace a test run makes is named `gwlbt-<pid of the run>-<n>`, so stale ones can be told apart. */
const PREFIX = 'gwlbt-'

export function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe']})
  } catch (error) {
    const e = error as {stderr?: string; message: string}
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Removes namespaces left by an earlier run that was killed before it could clean up. */
function removeStaleNamespaces(): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const owner = Number(name.slice(PREFIX.length).split('-')[0])
    if (name.startsWith(PREFIX) && owner !== process.pid && !isAlive(owner)) sh('ip', ['netns', 'del', name])
  }
}

let counter = 0
const liveLabs = new Set<Lab>()

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    for (const lab of liveLabs) lab.cleanup()
    process.exit(130)
  })
process.once('exit', () => {
  for (const lab of liveLabs) lab.cleanup()
})

export interface Host {
  /** The namespace's name, for `ip netns exec`. */
  ns: string
  /** Runs a command inside the namespace and returns its stdout. */
  run(cmd: string, ...args: string[]): string
  /** Starts a long-running process inside the namespace; the lab ends it (by PID) at cleanup. */
  spawn(cmd: string, args: string[], options?: SpawnOptions): ChildProcess
  sysctl(key: string, value: string | number): void
  /** The namespace's inode number, as the appliance names its state folder (/run/gwlb/net-<inode>). */
  netnsInode(): string
}

/**
 * A small network of namespaces for one test file: hosts, veth links with addresses, routes and sysctls,
 * processes inside them, and a cleanup that always runs (after the tests, on failure, on Ctrl-C).
 */
/**
 * A veth pair from this host (the test's own namespace) into `inside`: `hostAddr` here on an interface named for
 * this process and `tag`, `insideName` with `insideAddr` there. It goes with the namespace.
 */
export function linkToThisHost(inside: Host, tag: string, hostAddr: string, insideName: string, insideAddr: string): void {
  const hostSide = `${tag}${process.pid % 1_000_000}`
  sh('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', insideName, 'netns', inside.ns])
  sh('ip', ['address', 'add', hostAddr, 'dev', hostSide])
  sh('ip', ['link', 'set', hostSide, 'up'])
  inside.run('ip', 'address', 'add', insideAddr, 'dev', insideName)
  inside.run('ip', 'link', 'set', insideName, 'up')
}

export class Lab {
  private readonly namespaces: string[] = []
  private readonly children = new Set<ChildProcess>()

  constructor() {
    removeStaleNamespaces()
    liveLabs.add(this)
  }

  host(label: string): Host {
    const ns = `${PREFIX}${process.pid}-${++counter}-${label}`
    sh('ip', ['netns', 'add', ns])
    this.namespaces.push(ns)
    const run = (cmd: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args])
    run('ip', 'link', 'set', 'lo', 'up')
    return {
      ns,
      run,
      spawn: (cmd, args, options = {}) => {
        const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {stdio: 'pipe', ...options})
        this.children.add(child)
        child.once('exit', () => this.children.delete(child))
        return child
      },
      sysctl: (key, value) => {
        run('sysctl', '-qw', `${key}=${value}`)
      },
      netnsInode: () => run('readlink', '/proc/self/ns/net').replace(/\D/g, ''),
    }
  }

  /** A veth pair between two hosts, `a` side named aName with aAddr (CIDR), `b` side likewise. */
  link(a: Host, aName: string, aAddr: string, b: Host, bName: string, bAddr: string, mtu = 9001): void {
    sh('ip', ['-n', a.ns, 'link', 'add', aName, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', bName, 'netns', b.ns, 'mtu', String(mtu)])
    for (const [host, name, addr] of [[a, aName, aAddr], [b, bName, bAddr]] as const) {
      host.run('ip', 'address', 'add', addr, 'dev', name)
      host.run('ip', 'link', 'set', name, 'up')
    }
  }

  cleanup(): void {
    for (const child of this.children) if (child.pid && child.exitCode === null) child.kill('SIGKILL')
    this.children.clear()
    for (const ns of this.namespaces.splice(0)) {
      try {
        sh('ip', ['netns', 'del', ns])
      } catch {
        // already gone
      }
    }
    liveLabs.delete(this)
  }
}

/** Namespaces of this run that still exist (a test asserts there are none once a lab is cleaned up). */
export function namespacesOfThisRun(): string[] {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${PREFIX}${process.pid}-`))
}
