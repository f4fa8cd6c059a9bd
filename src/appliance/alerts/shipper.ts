import type {CloudWatchLogsClient, InputLogEvent} from '@aws-sdk/client-cloudwatch-logs'
import {CreateLogStreamCommand, GetLogEventsCommand, PutLogEventsCommand} from '../../sdk/cloudwatch-logs.js'
import {open, stat} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import {eveTime} from '../../eve.js'
import {readJson, replaceWhole} from '../host/system.js'

/**
 * Ships an appliance's eve.json to its CloudWatch Logs stream, each line once. Where it has read to is kept in
 * a state file, written after every batch; a batch is marked as being sent before it goes, so that a start
 * after kill -9 asks the stream whether that batch arrived (its last line, at its time) instead of sending it
 * twice or not at all. Memory is one batch; the disk is Suricata's file (gwlb adds nothing to it).
 */
export interface ShipperOptions {
  /** Suricata's eve.json. */
  file: string
  /** Where the position is kept across restarts. */
  state: string
  group: string
  stream: string
  logs: CloudWatchLogsClient
  /** The eve event types shipped (alert; flow, dns, tls... with --events); the rest are passed over. */
  events: string[]
  /** Stops after the batch in flight has been recorded. */
  signal: AbortSignal
  /** How long to wait for new lines once everything was shipped (ms). */
  idleMs?: number
  /** Once everything there is was shipped, stop (an appliance's last alerts, before it is let go). */
  drain?: boolean
  say?: (line: string) => void
}

/** What the state file holds. */
export interface ShipperPosition {
  /** The file's inode: another one is a rotation. */
  inode: number
  offset: number
  /** A batch sent, [offset, end), whose answer was not recorded. */
  sending?: {end: number}
  /** Events shipped, since the state file was made. */
  shipped: number
  /** When the last batch was accepted. */
  at?: string
}

// PutLogEvents' limits: 10,000 events, 1,048,576 bytes counting 26 per event, events up to 256 KiB, within 24 h.
const MAX_EVENTS = 10_000
const MAX_BATCH_BYTES = 1_048_576
const EVENT_OVERHEAD = 26
const MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
const MAX_SPAN_MS = 23 * 3600_000
const READ_BYTES = 1 << 20
const MAX_BACKOFF_MS = 30_000

interface Batch {
  events: InputLogEvent[]
  /** The file offset after its last line. */
  end: number
}

/** An event for one eve line: at the time Suricata gave it (now, for a line without one), cut to CloudWatch's size. */
function eventOf(line: string): InputLogEvent {
  const bytes = Buffer.byteLength(line)
  const message = bytes <= MAX_EVENT_BYTES ? line : `${Buffer.from(line).subarray(0, MAX_EVENT_BYTES - 16).toString().replace(/\uFFFD+$/, '')}…[truncated]`
  return {timestamp: eveTime(line) ?? Date.now(), message}
}

/**
 * The whole lines from `offset` (to `until`, if given) that fit one PutLogEvents call. A line longer than a read
 * is cut to its start.
 */
async function readBatch(file: string, offset: number, wanted: Set<string>, until = Infinity): Promise<Batch> {
  const handle = await open(file, 'r')
  try {
    const chunk = Buffer.alloc(READ_BYTES)
    const {bytesRead} = await handle.read(chunk, 0, Math.min(READ_BYTES, until - offset), offset)
    const text = chunk.subarray(0, bytesRead)
    const events: InputLogEvent[] = []
    let bytes = 0
    let at = 0
    let first = Infinity
    let last = -Infinity
    while (events.length < MAX_EVENTS) {
      let newline = text.indexOf(10, at)
      // A line that does not end within a whole read: its start is shipped, the rest skipped to its newline.
      if (newline < 0 && at === 0 && bytesRead === READ_BYTES) newline = (await lineEnd(handle, offset + READ_BYTES)) - offset
      if (newline < 0) break
      const line = text.subarray(at, Math.min(newline, READ_BYTES)).toString()
      if (!wanted.has(/"event_type":"(\w+)"/.exec(line)?.[1] ?? '')) {
        at = newline + 1
        continue
      }
      const event = eventOf(line)
      const size = Buffer.byteLength(event.message!) + EVENT_OVERHEAD
      const ts = event.timestamp!
      if (events.length > 0 && (bytes + size > MAX_BATCH_BYTES || Math.max(last, ts) - Math.min(first, ts) > MAX_SPAN_MS)) break
      events.push(event)
      bytes += size
      first = Math.min(first, ts)
      last = Math.max(last, ts)
      at = newline + 1
    }
    // CloudWatch takes a batch in time order; Suricata's threads write theirs nearly so.
    events.sort((a, b) => a.timestamp! - b.timestamp!)
    return {events, end: offset + at}
  } finally {
    await handle.close()
  }
}

/** The offset of the first newline at or after `from` (the file's end if there is none yet: a line still being written). */
async function lineEnd(handle: Awaited<ReturnType<typeof open>>, from: number): Promise<number> {
  const chunk = Buffer.alloc(64 << 10)
  for (let at = from; ; at += chunk.length) {
    const {bytesRead} = await handle.read(chunk, 0, chunk.length, at)
    const newline = chunk.subarray(0, bytesRead).indexOf(10)
    if (newline >= 0) return at + newline
    if (bytesRead < chunk.length) return -1
  }
}

const errorName = (error: unknown) => (error as {name?: string}).name ?? ''

export class AlertShipper {
  private position: ShipperPosition = {inode: 0, offset: 0, shipped: 0}
  private failures = 0
  private readonly wanted: Set<string>

  constructor(private readonly o: ShipperOptions) {
    this.wanted = new Set(o.events)
  }

  /** Ships until the signal (or, draining, until all there is was shipped); each failure is said and retried with backoff, the position kept. */
  async run(): Promise<void> {
    this.position = (await readJson<ShipperPosition>(this.o.state)) ?? this.position
    await this.untilDone(() => this.createStream())
    if (this.position.sending) await this.untilDone(() => this.settleSending())
    while (!this.o.signal.aborted) {
      const more = await this.untilDone(() => this.shipOnce())
      if (!more && this.o.drain) return
      if (!more) await sleep(this.o.idleMs ?? 1000, undefined, {signal: this.o.signal}).catch(() => undefined)
    }
  }

  /** One batch from where it stands: true if one was shipped (there may be more). */
  private async shipOnce(): Promise<boolean> {
    const now = await stat(this.o.file).catch(() => undefined)
    if (!now) return false
    if (now.ino !== this.position.inode || now.size < this.position.offset) {
      // Rotated (or cut by copytruncate): what was left of the old file is in eve.json.1 if logrotate kept it.
      const rotated = await stat(`${this.o.file}.1`).catch(() => undefined)
      if (this.position.inode && rotated?.ino === this.position.inode && rotated.size > this.position.offset) return this.ship(`${this.o.file}.1`)
      await this.record({inode: now.ino, offset: 0, shipped: this.position.shipped, at: this.position.at})
    }
    return this.ship(this.o.file)
  }

  private async ship(file: string): Promise<boolean> {
    const batch = await readBatch(file, this.position.offset, this.wanted)
    if (batch.end === this.position.offset) return false
    if (batch.events.length === 0) {
      await this.record({...this.position, offset: batch.end})
      return true
    }
    await this.record({...this.position, sending: {end: batch.end}})
    const {rejectedLogEventsInfo: rejected} = await this.o.logs.send(new PutLogEventsCommand({logGroupName: this.o.group, logStreamName: this.o.stream, logEvents: batch.events}))
    if (rejected) this.o.say?.(`CloudWatch Logs refused part of a batch (events too old or too new for the group): ${JSON.stringify(rejected)}`)
    const {sending: _, ...at} = this.position
    await this.record({...at, offset: batch.end, shipped: at.shipped + batch.events.length, at: new Date().toISOString()})
    return true
  }

  /**
   * A batch was being sent when the last run ended: if its last line is in the stream at its time, it arrived
   * (PutLogEvents takes a batch whole) and the position moves past it; otherwise it goes again.
   */
  private async settleSending(): Promise<void> {
    const {sending, ...at} = this.position
    // Read where it was sent from: eve.json, or eve.json.1 if it has been rotated since (gone: nothing to send).
    const from = (await Promise.all([this.o.file, `${this.o.file}.1`].map(async (f) => ((await stat(f).catch(() => undefined))?.ino === at.inode ? f : undefined)))).find(Boolean)
    const batch = from ? await readBatch(from, at.offset, this.wanted, sending!.end).catch(() => undefined) : undefined
    const lastLine = batch?.end === sending!.end ? batch.events.reduce((a, b) => (b.timestamp! >= a.timestamp! ? b : a)) : undefined
    let arrived = false
    if (lastLine) {
      let nextToken: string | undefined
      for (let page = 0; page < 20 && !arrived; page++) {
        const got = await this.o.logs.send(new GetLogEventsCommand({
          logGroupName: this.o.group, logStreamName: this.o.stream, startTime: lastLine.timestamp, endTime: lastLine.timestamp! + 1, startFromHead: true, nextToken,
        }))
        arrived = (got.events ?? []).some((e) => e.message === lastLine.message)
        if (!got.events?.length || got.nextForwardToken === nextToken) break
        nextToken = got.nextForwardToken
      }
    }
    await this.record(arrived ? {...at, offset: sending!.end, shipped: at.shipped + batch!.events.length, at: new Date().toISOString()} : at)
    this.o.say?.(arrived ? 'the batch in flight when the shipper stopped had arrived: not sent again' : 'the batch in flight when the shipper stopped had not arrived: sending it again')
  }

  private async createStream(): Promise<void> {
    await this.o.logs.send(new CreateLogStreamCommand({logGroupName: this.o.group, logStreamName: this.o.stream})).catch((error: unknown) => {
      if (errorName(error) !== 'ResourceAlreadyExistsException') throw error
    })
  }

  private async record(position: ShipperPosition): Promise<void> {
    this.position = position
    await replaceWhole(this.o.state, JSON.stringify(position))
  }

  /** Runs `step` until it succeeds or the signal stops it, saying each failure and backing off (1 s doubling to 30 s). */
  private async untilDone<T>(step: () => Promise<T>): Promise<T | undefined> {
    while (!this.o.signal.aborted) {
      try {
        const result = await step()
        if (this.failures > 0) this.o.say?.(`shipping again after ${this.failures} failed attempt(s)`)
        this.failures = 0
        return result
      } catch (error) {
        // The stream was deleted behind its back: made again, and the batch sent to it.
        if (errorName(error) === 'ResourceNotFoundException' && /stream/i.test((error as Error).message)) await this.createStream().catch(() => undefined)
        const wait = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.failures) * (0.5 + Math.random() / 2)
        this.failures++
        this.o.say?.(`cannot ship to ${this.o.group}/${this.o.stream}: ${(error as Error).message}; trying again in ${(wait / 1000).toFixed(1)} s`)
        await sleep(wait, undefined, {signal: this.o.signal}).catch(() => undefined)
      }
    }
    return undefined
  }
}
