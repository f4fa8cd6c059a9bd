import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {readFile, rename, writeFile} from 'node:fs/promises'

/**
 * Replaces a file whole: written beside it (named by this process, so two writers never share the draft), then
 * renamed over it. A reader sees the old file or the new one, never half of one.
 */
export async function replaceWhole(file: string, data: string | Buffer): Promise<void> {
  const draft = `${file}.${process.pid}`
  await writeFile(draft, data, {mode: 0o644})
  await rename(draft, file)
}

/** A JSON file's value, or undefined where there is none. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text ? (JSON.parse(text) as T) : undefined
}

/** How a system tool ended: its exit code (255 if it could not start or was killed), its output. */
export interface ToolOutcome {
  code: number
  stdout: string
  /** What it said on stderr, or why it did not run to its end if it said nothing. */
  stderr: string
}

/** Runs a system tool (ip, nft, tc), feeding it input if given, and says how it ended. */
export function runTool(cmd: string, args: string[], input?: string): Promise<ToolOutcome> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, {encoding: 'utf8', maxBuffer: 16 << 20}, (error, stdout, stderr) => {
      const code = !error ? 0 : typeof error.code === 'number' ? error.code : 255
      resolve({code, stdout, stderr: stderr || error?.message || ''})
    })
    // A tool that stops early (or is missing) closes its input: the exit says what happened, not EPIPE.
    if (input !== undefined) child.stdin?.on('error', () => undefined).end(input)
  })
}

/** Runs a system tool and returns stdout; rejects with its stderr. */
export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const {code, stdout, stderr} = await runTool(cmd, args, input)
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${stderr.trim()}`)
  return stdout
}

const sysctlPath = (key: string) => `/proc/sys/${key.replaceAll('.', '/')}`

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(sysctlPath(key), 'utf8')).trim()
}

export async function writeSysctl(key: string, value: string | number): Promise<void> {
  await writeFile(sysctlPath(key), String(value))
}

/**
 * Sysctls this process changed, with the values they had, so that exit puts them back. Per-interface keys of
 * tunnel interfaces vanish with the interface and need no restoring.
 */
export class SysctlChanges {
  private readonly original = new Map<string, string>()

  /** onOriginals: told all originals before a new one is changed (a record a later run can restore from). */
  constructor(private readonly onOriginals?: (originals: Record<string, string>) => Promise<void>) {}

  async set(key: string, value: string | number, {restore = true} = {}): Promise<void> {
    const before = await readSysctl(key)
    if (restore && !this.original.has(key)) {
      this.original.set(key, before)
      await this.onOriginals?.(Object.fromEntries(this.original))
    }
    if (before !== String(value)) await writeSysctl(key, value)
  }

  async restore(): Promise<void> {
    for (const [key, value] of [...this.original].reverse()) {
      try {
        await writeSysctl(key, value)
      } catch {
        // an interface that went away takes its keys with it
      }
    }
    this.original.clear()
  }
}

/** The IPv4 addresses of an interface; undefined if there is no such interface. */
export async function ipv4Addresses(name: string): Promise<string[] | undefined> {
  const out = await run('ip', ['-j', '-4', 'address', 'show', 'dev', name]).catch(() => undefined)
  if (out === undefined) return undefined
  return (JSON.parse(out || '[]') as {addr_info?: {local: string}[]}[]).flatMap((l) => l.addr_info?.map((a) => a.local) ?? [])
}

/** The interface of the IPv4 default route, which two-arm mode uses as its egress by default. */
export async function defaultRouteInterface(): Promise<string | undefined> {
  const routes = JSON.parse(await run('ip', ['-j', 'route', 'show', 'default'])) as {dev?: string}[]
  return routes[0]?.dev
}

/** The interface the kernel would send to this address through (`ip route get`), if any. */
export async function routeInterface(address: string): Promise<string | undefined> {
  const routes = JSON.parse(await run('ip', ['-j', 'route', 'get', address]).catch(() => '[]')) as {dev?: string}[]
  return routes[0]?.dev
}

/**
 * Datagrams the kernel dropped for want of receive buffer on this namespace's UDP sockets bound to `port`
 * (the last column of /proc/net/udp and udp6): a small read, at scrape time.
 */
export function udpReceiveDrops(port: number): number {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  let drops = 0
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    const lines = (() => {
      try {
        return readFileSync(file, 'utf8').split('\n').slice(1)
      } catch {
        return [] // no IPv6 in this kernel
      }
    })()
    for (const line of lines) {
      const fields = line.trim().split(/\s+/)
      if (fields[1]?.endsWith(hexPort)) drops += Number(fields.at(-1)) || 0
    }
  }
  return drops
}
