import {CreateLogGroupCommand, GetLogEventsCommand} from '@aws-sdk/client-cloudwatch-logs'
import {appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import type {ShipperPosition} from '../../src/appliance/alerts/shipper.js'
import {eveAlerts, startShipper as runShipper} from '../helpers/alert-shipper.js'
import {useMoto} from '../helpers/moto.js'

const {clients} = useMoto({resetEach: true})
const GROUP = '/gwlb/egress/eve'
const STREAM = 'i-0123456789abcdef0'

let dir: string
let eve: string
let state: string
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gwlb-shipper-'))
  eve = join(dir, 'eve.json')
  state = join(dir, 'state.json')
  await clients().logs.send(new CreateLogGroupCommand({logGroupName: GROUP}))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const startShipper = (group = GROUP, more: string[] = []) => runShipper({group, stream: STREAM, eve, state, more})

const position = () => {
  try {
    return JSON.parse(readFileSync(state, 'utf8')) as ShipperPosition
  } catch {
    return undefined
  }
}
/** Until the shipper has recorded the whole file as shipped. */
const shippedAll = () => expect.poll(() => position()?.offset === statSync(eve).size && !position()?.sending, {timeout: 30_000, interval: 50}).toBe(true)

/** Every message in the stream, oldest first. */
async function stream(): Promise<string[]> {
  const messages: string[] = []
  let nextToken: string | undefined
  for (;;) {
    const got = await clients().logs.send(new GetLogEventsCommand({logGroupName: GROUP, logStreamName: STREAM, startFromHead: true, nextToken}))
    messages.push(...(got.events ?? []).map((e) => e.message!))
    if (!got.events?.length || got.nextForwardToken === nextToken) return messages
    nextToken = got.nextForwardToken
  }
}

/** The lines of eve.json (and what it was rotated to) are in the stream, each exactly once. */
async function expectEachLineOnce(...files: string[]) {
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean))
  const shipped = await stream()
  expect(shipped.length).toBe(lines.length)
  expect(new Set(shipped)).toEqual(new Set(lines))
}

describe('gwlb appliance ship-alerts: an appliance\'s eve.json in its CloudWatch Logs stream', () => {
  it('10,000 alerts arrive exactly once across a kill -9 while it ships, and its restart', async () => {
    writeFileSync(eve, eveAlerts(6000))
    const first = startShipper()
    // Killed while Suricata writes and batches are on their way.
    await expect.poll(() => position()?.shipped ?? 0, {timeout: 30_000, interval: 20}).toBeGreaterThan(0)
    appendFileSync(eve, eveAlerts(2000))
    await first.kill('SIGKILL')
    appendFileSync(eve, eveAlerts(2000))
    const second = startShipper()
    await shippedAll()
    expect(await second.kill('SIGTERM')).toBe(0)
    await expectEachLineOnce(eve)
    expect(readFileSync(eve, 'utf8').split('\n').filter(Boolean)).toHaveLength(10_000)
  })

  it('--drain ships what the file has and stops by itself: an appliance\'s last alerts, before it is let go', async () => {
    writeFileSync(eve, eveAlerts(300))
    expect(await startShipper(GROUP, ['--drain']).exited()).toBe(0)
    await expectEachLineOnce(eve)
    expect(position()).toMatchObject({offset: statSync(eve).size, shipped: 300})
  })

  it('a batch that arrived just before kill -9 could record it is not sent again', async () => {
    writeFileSync(eve, eveAlerts(100))
    const first = startShipper()
    await shippedAll()
    await first.kill('SIGKILL')
    // As the state file is between the put and its answer being written: the batch marked as on its way.
    const {inode, offset} = position()!
    writeFileSync(state, JSON.stringify({inode, offset: 0, sending: {end: offset}, shipped: 0}))
    appendFileSync(eve, eveAlerts(50))
    const second = startShipper()
    await shippedAll()
    await second.kill('SIGTERM')
    expect(second.said()).toMatch(/the batch in flight when the shipper stopped had arrived: not sent again/)
    await expectEachLineOnce(eve)
  })

  it('a batch marked as on its way that never arrived is sent', async () => {
    writeFileSync(eve, eveAlerts(100))
    writeFileSync(state, JSON.stringify({inode: statSync(eve).ino, offset: 0, sending: {end: statSync(eve).size}, shipped: 0}))
    const shipper = startShipper()
    await shippedAll()
    await shipper.kill('SIGTERM')
    expect(shipper.said()).toMatch(/had not arrived: sending it again/)
    await expectEachLineOnce(eve)
  })

  it('follows a rotation: the rest of the old file (eve.json.1), then the new one from its start', async () => {
    writeFileSync(eve, eveAlerts(100))
    const shipper = startShipper()
    await shippedAll()
    // logrotate moves the file; Suricata writes on to the open one until it is told to reopen.
    renameSync(eve, `${eve}.1`)
    appendFileSync(`${eve}.1`, eveAlerts(20))
    writeFileSync(eve, eveAlerts(30))
    await shippedAll()
    await shipper.kill('SIGTERM')
    await expectEachLineOnce(`${eve}.1`, eve)
  })

  it('a line still being written waits for its end; one longer than CloudWatch takes is cut, not lost', async () => {
    const long = `${JSON.stringify({timestamp: '2026-12-04T10:00:00.000001+0000', event_type: 'alert', payload_printable: 'x'.repeat(400_000)})}\n`
    writeFileSync(eve, eveAlerts(3) + long.slice(0, 1000))
    const shipper = startShipper()
    await expect.poll(() => position()?.shipped, {timeout: 30_000, interval: 50}).toBe(3)
    appendFileSync(eve, long.slice(1000))
    await shippedAll()
    await shipper.kill('SIGTERM')
    const shipped = await stream()
    expect(shipped).toHaveLength(4)
    expect(shipped.find((m) => m.endsWith('…[truncated]'))!.length).toBeLessThan(262_144)
  })

  it('ships the event types asked for and passes over the rest: alerts by default, flows too with --events alert,flow', async () => {
    writeFileSync(eve, eveAlerts(3) + eveAlerts(4, undefined, 'flow') + eveAlerts(2, undefined, 'stats') + eveAlerts(3))
    const first = startShipper()
    await shippedAll()
    await first.kill('SIGTERM')
    expect((await stream()).map((m) => JSON.parse(m).event_type)).toEqual(Array(6).fill('alert'))
    appendFileSync(eve, eveAlerts(1, undefined, 'flow'))
    const second = startShipper(GROUP, ['--events', 'alert,flow'])
    await shippedAll()
    await second.kill('SIGTERM')
    expect((await stream()).filter((m) => JSON.parse(m).event_type === 'flow')).toHaveLength(1)
  })

  it('a group that is not there yet: says why, backs off, and ships once it exists', async () => {
    const group = '/gwlb/later/eve'
    writeFileSync(eve, eveAlerts(10))
    const shipper = startShipper(group)
    await expect.poll(() => shipper.said(), {timeout: 15_000, interval: 100}).toMatch(/cannot ship to \/gwlb\/later\/eve\/i-0123456789abcdef0: .*; trying again in \d+\.\d s/)
    await clients().logs.send(new CreateLogGroupCommand({logGroupName: group}))
    await shippedAll()
    await shipper.kill('SIGTERM')
    const got = await clients().logs.send(new GetLogEventsCommand({logGroupName: group, logStreamName: STREAM, startFromHead: true}))
    expect(got.events).toHaveLength(10)
  })
})
