import {afterAll, beforeAll, expect, it} from 'vitest'
import {ApplianceBed, INTERNET_IP} from '../helpers/appliance-bed.js'
import {echoReply, encapsulate, icmpEcho, icmpv6Echo, udp} from '../helpers/packets.js'
import {describeAsRoot} from '../helpers/root.js'
import {payload, vectors} from '../helpers/vectors.js'

/** How many datagrams (GWLB_FUZZ_DATAGRAMS for a longer run); sent in rounds of at most ROUND in flight. */
const DATAGRAMS = Number(process.env.GWLB_FUZZ_DATAGRAMS ?? 6000)
const ROUND = 200
const SEED = Number(process.env.GWLB_FUZZ_SEED ?? 0x9e3779b9)
/** Drops of packets coming back from the tunnels, not of datagrams from the GWLB. */
const RETURN_REASONS = ['unknown-flow', 'link-local', 'send-failed', 'gso-split-failed']

/** A small seeded generator (mulberry32): a failing run can be repeated with its seed. */
function random(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const below = (n: number) => Math.floor(next() * n)
  return {below, bytes: (n: number) => Buffer.from(Array.from({length: n}, () => below(256)))}
}

interface Report {
  status: string
  traffic: {packetsIn: number}
  drops: Record<string, number>
  receiveBufferDrops: number
  tunnels: {state: string; traffic: {packetsIn: number}}[]
}

describeAsRoot('the whole receive path under random and mutated datagrams', () => {
  const bed = new ApplianceBed()
  const rng = random(SEED)
  const seeds = vectors.map(payload)
  const endpoints = Array.from({length: 16}, (_, i) => (0xf000 + i).toString(16).padStart(16, '0'))
  const inners = [
    () => icmpEcho({src: `10.240.0.${rng.below(250)}`, dst: INTERNET_IP}, 3, rng.below(65536)),
    () => udp({src: `10.240.1.${rng.below(250)}`, dst: '203.0.113.7'}, 1024 + rng.below(60000), 53, rng.bytes(rng.below(200))),
    () => icmpv6Echo({src: 'fd00::5', dst: 'fd00::7'}, 3, rng.below(65536)),
    () => rng.bytes(rng.below(120)),
  ]

  /** One datagram: random bytes, a scapy vector with bytes changed and cut, or a well-formed one of a random endpoint. */
  function datagram(): Buffer {
    const kind = rng.below(3)
    if (kind === 0) return rng.bytes(rng.below(300))
    if (kind === 1) {
      const bytes = Buffer.from(seeds[rng.below(seeds.length)]!)
      for (let flips = rng.below(6); flips > 0 && bytes.length; flips--) bytes[rng.below(bytes.length)] = rng.below(256)
      return bytes.subarray(0, bytes.length - rng.below(Math.min(bytes.length, 40) + 1))
    }
    return encapsulate({eni: endpoints[rng.below(endpoints.length)]!, cookie: rng.bytes(4).toString('hex')}, inners[rng.below(inners.length)]!())
  }

  beforeAll(async () => {
    await bed.setUp()
    await bed.start('--mode', 'two-arm', '--max-tunnels', '8')
  })
  afterAll(async () => bed.cleanup())

  it(`${DATAGRAMS} datagrams: the process stays up and healthy, every datagram is accounted for, a valid flow still works`, async () => {
    // A flow through the first endpoint before the storm, and again after it.
    const live = {eni: endpoints[0]!}
    bed.send(live, icmpEcho({src: '10.250.0.1', dst: INTERNET_IP}, 77, 1))
    await bed.reply(echoReply(77, 1))
    const base = (await bed.report<Report>()).traffic.packetsIn
    for (let sent = 0; sent < DATAGRAMS;) {
      const round = Math.min(ROUND, DATAGRAMS - sent)
      for (let i = 0; i < round; i++) bed.sendRaw(datagram())
      sent += round
      const received = (await bed.reportWhen<Report>((r) => r.traffic.packetsIn - base >= sent)).traffic.packetsIn - base
      expect(received, `seed ${SEED}`).toBe(sent)
    }
    // Nothing held for a tunnel being made any more: then every datagram is a drop (by reason) or went into a tunnel.
    const report = await bed.reportWhen<Report>((r) => r.tunnels.every((t) => t.state !== 'creating'))
    const dropped = Object.entries(report.drops).filter(([reason]) => !RETURN_REASONS.includes(reason)).reduce((n, [, count]) => n + count, 0)
    const delivered = report.tunnels.reduce((n, t) => n + t.traffic.packetsIn, 0) - base
    console.log(`fuzz (seed ${SEED}): ${DATAGRAMS} datagrams, ${delivered} into tunnels, drops ${JSON.stringify(Object.fromEntries(Object.entries(report.drops).filter(([, n]) => n > 0)))}`)
    expect(dropped + delivered, `seed ${SEED}`).toBe(DATAGRAMS)
    expect(report.receiveBufferDrops).toBe(0)
    expect(report.tunnels.length).toBeLessThanOrEqual(8)
    expect(bed.process!.exitCode).toBeNull()
    expect((await bed.health()).status).toBe(200)
    bed.send(live, icmpEcho({src: '10.250.0.1', dst: INTERNET_IP}, 77, 2))
    await bed.reply(echoReply(77, 2), 5000)
  }, 180_000)
})
