import fc from 'fast-check'
import {expect, it} from 'vitest'
import {APPLIANCE_IP, ApplianceBed, GWLB_IP} from '../helpers/appliance-bed.js'
import {useRunningAppliance} from '../helpers/running-appliance.js'
import {describeAsRoot} from '../helpers/root.js'
import {encapsulate, forwarded, parseInner, TCP_ACK, TCP_FIN, TCP_PSH, tcp, udp, type Ip} from '../helpers/packets.js'

const V4: Ip = {src: '10.200.0.5', dst: '203.0.113.80'}
const V6: Ip = {src: 'fd00:200::5', dst: '2001:db8::10'}
/** TCP timestamps (NOP, NOP, TS val/ecr): segments of one send share them. */
const TIMESTAMPS = Buffer.from('0101080a0001e24000000000', 'hex')

let endpoints = 0x1000
/** A new endpoint each time: its first packets wait for its tunnel, then go in with one write call. */
const newEndpoint = () => ({eni: (endpoints++).toString(16).padStart(16, '0'), cookie: 'cafef00d'})

interface Counts {
  coalesced: number
  groMerged: number
}
const countsOf = (bed: ApplianceBed) => bed.report<Counts>()

/**
 * Sends packets through a new endpoint (one-arm: out of gwi-, routed, back from gwo-); what returns, in order,
 * and how many were merged on the way in. `asOne`: the GENEVE datagrams go as one UDP GSO send, which the
 * appliance's socket takes whole, as it takes datagrams that GRO on a NIC merged.
 */
async function sendThrough(bed: ApplianceBed, packets: Buffer[], o: {asOne?: boolean} = {}): Promise<{back: Buffer[]} & Counts> {
  const before = await countsOf(bed)
  const endpoint = newEndpoint()
  if (o.asOne) sendAsOne(bed, packets.map((p) => encapsulate(endpoint, p)))
  else for (const p of packets) bed.send(endpoint, p)
  const back: Buffer[] = []
  for (const _ of packets) back.push((await bed.reply((d) => d.subarray(12, 20).toString('hex') === endpoint.eni)).payload.subarray(40))
  const after = await countsOf(bed)
  return {back, coalesced: after.coalesced - before.coalesced, groMerged: after.groMerged - before.groMerged}
}

/** Datagrams of one size (the last may be shorter) in one send with UDP_SEGMENT, from the GWLB node. */
function sendAsOne(bed: ApplianceBed, datagrams: Buffer[]): void {
  const script = [
    'import socket, sys',
    'udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `udp.bind(('${GWLB_IP}', 51999))`,
    `udp.setsockopt(socket.IPPROTO_UDP, 103, ${datagrams[0]!.length})  # UDP_SEGMENT`,
    `udp.sendto(bytes.fromhex(sys.argv[1]), ('${APPLIANCE_IP}', 6081))`,
  ].join('\n')
  bed.gwlb.run('python3', '-c', script, Buffer.concat(datagrams).toString('hex'))
}

/** Packets by flow, each flow's in order: flows may overtake each other on their way back (tunnel queues). */
function byFlow(packets: Buffer[]): Record<string, string[]> {
  const flows: Record<string, string[]> = {}
  for (const p of packets) {
    const inner = parseInner(p)
    const key = `${inner.protocol} ${String(inner.src)} ${String(inner.dst)} ${inner.payload.readUInt32BE(0)}`
    ;(flows[key] ??= []).push(p.toString('hex'))
  }
  return flows
}

const data = (i: number, size = 200) => Buffer.alloc(size, 0x41 + (i % 26))

/** One packet of a random mix: mostly what merges, with every way of breaking a run thrown in. */
const packetSpec = fc.record({
  flow: fc.constantFrom('udp4', 'udp6', 'tcp4', 'tcp6'),
  size: fc.oneof(fc.constant(300), fc.constant(300), fc.integer({min: 1, max: 1400})),
  idStep: fc.oneof(fc.constant(1), fc.constant(1), fc.integer({min: 0, max: 2})),
  seqGap: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({min: 1, max: 50})),
  flags: fc.constantFrom(TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_FIN),
  corrupt: fc.integer({min: 0, max: 19}).map((n) => n === 0),
  df: fc.integer({min: 0, max: 9}).map((n) => n > 0),
})
type PacketSpec = typeof packetSpec extends fc.Arbitrary<infer T> ? T : never

/** The packets of a mix, each flow's IDs and sequence numbers carried on from its previous packet. */
function buildMix(specs: PacketSpec[]): Buffer[] {
  const next = {id: 100, seq: {tcp4: 1000, tcp6: 1000} as Record<string, number>}
  return specs.map((x) => {
    next.id = (next.id + x.idStep) & 0xffff
    const ip = x.flow.endsWith('6') ? V6 : {...V4, id: next.id, df: x.df}
    const payload = data(x.size, x.size)
    let packet: Buffer
    if (x.flow.startsWith('udp')) {
      packet = udp(ip, 6000, 7000, payload)
    } else {
      const seq = next.seq[x.flow]! + x.seqGap
      next.seq[x.flow] = seq + x.size
      packet = tcp(ip, 40500, 443, {seq, ack: 1, flags: x.flags, options: TIMESTAMPS, data: payload})
    }
    if (x.corrupt) packet[packet.length - 1]! ^= 0x5a
    return packet
  })
}

/** A run of one UDP flow that would merge: IDs counting up, checksums right. */
const udpRun = (length: number) => Array.from({length}, (_, i) => udp({...V4, id: 7000 + i}, 5353, 53, data(i, i === length - 1 ? 77 : 200)))

describeAsRoot('gwlb appliance run: runs of one flow go into the tunnel as GSO packets, and come out unchanged', () => {
  const bed = useRunningAppliance('--mode', 'one-arm')

  const through = (packets: Buffer[], o: {asOne?: boolean} = {}) => sendThrough(bed(), packets, o)

  it('merges UDP packets of one flow whose IDs count up; each comes back byte for byte, in order', async () => {
    // The last one shorter: segmentation leaves the remainder last.
    const packets = udpRun(40)
    const {back, coalesced} = await through(packets)
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    expect(coalesced).toBeGreaterThan(1)
    // What the kernel hands back from gwo- in one piece fits a worker's batch.
    const gwo = bed().links().find((l) => l.startsWith('gwo-'))!
    expect(bed().appliance.run('ip', '-d', 'link', 'show', gwo)).toMatch(/gso_max_segs 64 /)
  })

  it('merges TCP segments with consecutive sequence numbers and the same options, PSH on the last', async () => {
    const packets = Array.from({length: 24}, (_, i) =>
      tcp({...V4, id: 100 + i}, 40100, 443, {seq: 0xfffff000 + i * 1000, ack: 77, flags: i === 23 ? TCP_ACK | TCP_PSH : TCP_ACK, options: TIMESTAMPS, data: data(i, 1000)}),
    )
    const {back, coalesced} = await through(packets)
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    expect(coalesced).toBeGreaterThan(1)
  })

  it('merges IPv6 UDP and TCP', async () => {
    const packets = [
      ...Array.from({length: 12}, (_, i) => udp(V6, 5000, 6000, data(i, 1200))),
      ...Array.from({length: 12}, (_, i) => tcp(V6, 40200, 443, {seq: 5000 + i * 500, flags: TCP_ACK, data: data(i, 500)})),
    ]
    const {back, coalesced} = await through(packets)
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    expect(coalesced).toBeGreaterThan(1)
  })

  it('brings any mix of flows, sizes, IDs, DF bits, sequence gaps, flags and broken checksums back as it was sent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(packetSpec, {minLength: 2, maxLength: 48}), async (specs) => {
        const packets = buildMix(specs)
        const {back} = await through(packets)
        expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
      }),
      {numRuns: 30},
    )
  })

  it('takes datagrams that arrive merged (GRO on the NIC) apart again: one GENEVE packet each', async () => {
    const packets = udpRun(30)
    const {back, groMerged, coalesced} = await through(packets, {asOne: true})
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    // The TUN path's socket takes them merged and cuts them itself; beside the BPF path it asks for no merged
    // datagrams (GRO would keep bulk flows from the kernel path), so the kernel splits them for it.
    expect(groMerged).toBe((await bed().report()).datapath === 'bpf' ? 0 : 30)
    expect(coalesced).toBeGreaterThan(1)
  })

  it('leaves alone what segmentation would change: fixed IDs, bad or missing checksums, different TCP options', async () => {
    const broken = udp({...V4, id: 2}, 5353, 53, data(0))
    broken[broken.length - 1]! ^= 0xff
    const packets = [
      ...Array.from({length: 8}, () => udp({...V4, id: 4242}, 5353, 53, data(1))),
      udp({...V4, id: 1}, 5353, 53, data(2)),
      broken,
      udp({...V4, id: 3}, 5353, 53, data(2)),
      ...Array.from({length: 6}, (_, i) => udp({...V4, id: 10 + i}, 5353, 53, data(3), {checksum: false})),
      ...Array.from({length: 6}, (_, i) => {
        const ts = Buffer.from(TIMESTAMPS)
        ts.writeUInt32BE(1000 + i, 4)
        return tcp({...V4, id: 20 + i}, 40300, 443, {seq: 1 + i * 100, flags: TCP_ACK, options: ts, data: data(i, 100)})
      }),
    ]
    const {back, coalesced} = await through(packets)
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    expect(coalesced).toBe(0)
  })
})

describeAsRoot('gwlb appliance run --no-gso: every packet goes through the tunnels on its own', () => {
  const bed = useRunningAppliance('--mode', 'one-arm', '--no-gso')

  it('merges nothing, and the packets still come back as sent', async () => {
    const packets = udpRun(40)
    const {back, coalesced} = await sendThrough(bed(), packets)
    expect(byFlow(back)).toEqual(byFlow(packets.map(forwarded)))
    expect(coalesced).toBe(0)
    // Datagrams a sender merged reach the socket one by one: the kernel splits them for it.
    const merged = await sendThrough(bed(), udpRun(20), {asOne: true})
    expect(merged).toMatchObject({groMerged: 0, coalesced: 0})
    expect(merged.back).toHaveLength(20)
    const gwo = bed().links().find((l) => l.startsWith('gwo-'))!
    expect(bed().appliance.run('ip', '-d', 'link', 'show', gwo)).not.toMatch(/gso_max_segs 64 /)
  })
})
