import {link, mkdir, readdir, readFile, readlink, rm, rmdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {UserError} from '../../errors.js'
import {readJson, replaceWhole} from './system.js'

/**
 * What a run of the appliance holds and changed on the host, kept where the next run finds it: a lock (one
 * owner per network namespace), the original values of the sysctls it changed, and the clsact qdisc it made. Everything the appliance
 * changes is per network namespace, so the files are too (`/run/gwlb/net-<inode>/`): appliances in two
 * namespaces never see each other's.
 */
export interface HostState {
  pid: number
  since: string
  /** The values the sysctls had before the first run that changed them (not a crashed run's values). */
  sysctls: Record<string, string>
  /** The interface on which a run made the clsact qdisc for its BPF program (removed with the program). */
  clsact?: string
}

const ROOT = process.env.GWLB_STATE_DIR ?? '/run/gwlb'

async function stateDir(): Promise<string> {
  const ns = (await readlink('/proc/self/ns/net')).replace(/\D/g, '')
  return join(ROOT, `net-${ns}`)
}

/** Whether the process that wrote a lock is still an appliance (a pid can be reused by anything else). */
async function alive(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  return cmdline.includes('appliance\0run')
}

/** This run's hold on the host: what a dead run left (its sysctl originals), and where to record its own. */
export interface HostLock {
  /** The sysctl originals a dead run recorded and did not restore (empty after a clean stop). */
  left: Record<string, string>
  /** The interface on which a dead run made a clsact qdisc it did not remove. */
  leftClsact?: string
  record(sysctls: Record<string, string>): Promise<void>
  recordClsact(device: string | undefined): Promise<void>
  /** Writes what this run wants others to read (the lab, `policy show`) as NAME.json beside the lock, until release. */
  publish(name: string, data: unknown): Promise<void>
  release(): Promise<void>
}

/** The appliance that runs in this network namespace (its lock's holder, alive), and what it published. */
export async function applianceHere(): Promise<{pid: number; published<T>(name: string): Promise<T | undefined>} | undefined> {
  const dir = await stateDir()
  const pid = await holder(join(dir, 'lock'))
  if (!pid || !(await alive(pid))) return undefined
  return {pid, published: <T>(name: string) => readJson<T>(join(dir, `${name}.json`))}
}

/** What the appliance of each namespace under `root` (a GWLB_STATE_DIR) published as NAME.json. */
export async function readPublished<T>(root: string, name: string): Promise<T[]> {
  const dirs = (await readdir(root).catch(() => [])).filter((d) => d.startsWith('net-'))
  const found = await Promise.all(dirs.map((d) => readJson<T>(join(root, d, `${name}.json`))))
  return found.filter((x) => x !== undefined) as T[]
}

/**
 * Takes the namespace's appliance lock before anything is touched: a lock file made with link() (atomic:
 * one of two runs started together wins), naming its pid. A lock whose process is gone (kill -9, a crash)
 * is taken over, and what that run recorded is handed to this one to undo.
 */
export async function lockHost(): Promise<HostLock> {
  const dir = await stateDir()
  const lockFile = join(dir, 'lock')
  const stateFile = join(dir, 'state.json')
  const mine: HostState = {pid: process.pid, since: new Date().toISOString(), sysctls: {}}
  const draft = join(dir, `lock.${process.pid}`)
  await writeDraft(dir, draft)
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(draft, lockFile)
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockedBy(await holder(lockFile), lockFile, error)
        const other = await holder(lockFile)
        if (other && (await alive(other))) throw lockedBy(other, lockFile, error)
        await rm(lockFile, {force: true}) // a dead run's: take it over
      }
    }
  } finally {
    await rm(draft, {force: true})
  }
  const previous = JSON.parse(await readFile(stateFile, 'utf8').catch(() => '{}')) as Partial<HostState>
  const left = previous.sysctls ?? {}
  // What a dead run published is no longer true of anything.
  for (const file of await readdir(dir)) if (file.endsWith('.json') && file !== 'state.json') await rm(join(dir, file), {force: true})
  // Until this run has restored them, the true originals are the dead run's: keep them on record.
  mine.sysctls = {...left}
  mine.clsact = previous.clsact
  await writeFile(stateFile, JSON.stringify(mine))
  const published = new Set<string>()
  return {
    left,
    leftClsact: previous.clsact,
    async record(sysctls) {
      mine.sysctls = {...sysctls, ...mine.sysctls}
      await writeFile(stateFile, JSON.stringify(mine))
    },
    async recordClsact(device) {
      mine.clsact = device
      await writeFile(stateFile, JSON.stringify(mine))
    },
    async publish(name, data) {
      published.add(name)
      await replaceWhole(join(dir, `${name}.json`), JSON.stringify(data))
    },
    async release() {
      for (const name of published) await rm(join(dir, `${name}.json`), {force: true})
      await rm(stateFile, {force: true})
      await rm(lockFile, {force: true})
      // Nothing left on record: the folder goes too (unless another run's draft is in it already).
      await rmdir(dir).catch(() => undefined)
    },
  }
}

/** The draft lock, in a folder that a run stopping at that moment may just have removed: made again then. */
async function writeDraft(dir: string, draft: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await mkdir(dir, {recursive: true, mode: 0o700})
    try {
      return await writeFile(draft, JSON.stringify({pid: process.pid}))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error
    }
  }
}

async function holder(lockFile: string): Promise<number | undefined> {
  const text = await readFile(lockFile, 'utf8').catch(() => '')
  return (JSON.parse(text || '{}') as {pid?: number}).pid
}

function lockedBy(pid: number | undefined, lockFile: string, cause: unknown): Error {
  if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') return cause as Error
  return new UserError(`another gwlb appliance (pid ${pid ?? '?'}) runs in this network namespace`,
    `stop it first (systemctl stop gwlb-appliance); if no such process runs, remove ${lockFile}`)
}
