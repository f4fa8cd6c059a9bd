import type {ChildProcess} from 'node:child_process'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import type {Host} from './netns.js'

const script = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url))

export type PeerEvent = {event: string; [key: string]: unknown}
export type UdpEvent = {event: 'udp'; id: string; from: string; port: number; hex: string}

/** Drives test/fixtures/peer.mjs inside a namespace: send datagrams, make HTTP requests, collect events. */
export class Peer {
  private readonly events: PeerEvent[] = []
  private readonly waiters = new Set<() => void>()
  private readonly child: ChildProcess

  constructor(host: Host) {
    this.child = host.spawn(process.execPath, [script])
    createInterface({input: this.child.stdout!}).on('line', (line) => {
      this.events.push(JSON.parse(line) as PeerEvent)
      for (const wake of this.waiters) wake()
    })
  }

  command(command: Record<string, unknown>): void {
    this.child.stdin!.write(JSON.stringify(command) + '\n')
  }

  /** The first event (not taken before) that matches, waiting up to timeoutMs. */
  async next<T extends PeerEvent = PeerEvent>(match: (e: PeerEvent) => boolean, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.events.findIndex(match)
      if (i >= 0) return this.events.splice(i, 1)[0] as T
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; unclaimed: ${JSON.stringify(this.events.slice(-5))}`)
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(wake, left)
        this.waiters.add(wake)
      })
    }
  }

  /** Events of a kind that arrived so far (and are not claimed), without waiting. */
  drain(kind: string): PeerEvent[] {
    const taken = this.events.filter((e) => e.event === kind)
    for (const e of taken) this.events.splice(this.events.indexOf(e), 1)
    return taken
  }

  async ready(): Promise<void> {
    await this.next((e) => e.event === 'ready', 10_000)
  }

  async http(url: string): Promise<{status?: number; body?: string; headers?: Record<string, string>; error?: string}> {
    const tag = Math.random().toString(36).slice(2)
    this.command({op: 'http', url, tag})
    return (await this.next((e) => e.event === 'http' && e.tag === tag, 5000)) as never
  }

  close(): void {
    this.child.stdin!.end()
  }
}
