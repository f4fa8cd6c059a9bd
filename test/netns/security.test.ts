import {afterEach, beforeEach, expect, it, vi} from 'vitest'
import {ApplianceBed, APPLIANCE_EGRESS_IP, APPLIANCE_IP, GWLB_IP, INTERNET_IP} from '../helpers/appliance-bed.js'
import {encapsulate, echoReply, icmpEcho} from '../helpers/packets.js'
import {describeAsRoot} from '../helpers/root.js'
import {tunnelNames} from '../../src/appliance/host/names.js'

const ENI = {eni: '00000000000000a1', cookie: 'aaaa0001'}
const CLIENT = '10.200.0.5'
/** Another host on the GWLB's link, not a GWLB node. */
const OUTSIDER_IP = '10.77.0.9'

interface Report {
  drops: Record<string, number>
  tunnels: {eni: string}[]
  traffic: {packetsIn: number}
}

describeAsRoot('gwlb appliance run takes GENEVE only from the GWLB, within bounds', () => {
  let bed: ApplianceBed
  beforeEach(async () => {
    bed = new ApplianceBed()
    await bed.setUp()
    bed.gwlb.run('ip', 'addr', 'add', `${OUTSIDER_IP}/24`, 'dev', 'g0')
    bed.gwlbPeer.command({op: 'bind', id: 'outsider', port: 51001, address: OUTSIDER_IP})
    await bed.gwlbPeer.next((e) => e.event === 'bound' && e.id === 'outsider')
  })
  afterEach(async () => bed?.cleanup())

  const ping = (seq: number) => bed.send(ENI, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 9, seq))

  it('drops GENEVE from outside --allowed-sources before decoding: counted, no tunnel, the GWLB\'s own traffic flows', async () => {
    await bed.start('--mode', 'one-arm', '--allowed-sources', `${GWLB_IP}/32`)
    for (let i = 0; i < 50; i++) {
      const datagram = encapsulate({eni: (0xbad00 + i).toString(16).padStart(16, '0')}, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 9, i))
      bed.gwlbPeer.command({op: 'send', id: 'outsider', to: APPLIANCE_IP, port: 6081, hex: datagram.toString('hex')})
    }
    ping(1)
    await bed.reply()
    const report = await bed.report<Report>()
    expect(report.drops['source-not-allowed']).toBe(50)
    expect(report.tunnels.map((t) => t.eni)).toEqual([`0${ENI.eni}`])
    expect(await bed.metrics()).toMatch(/^gwlb_drops_total\{reason="source-not-allowed"\} 50$/m)
    expect(bed.output).toMatch(/GENEVE on UDP 6081 from 10\.77\.0\.1\/32/)
  })

  it('1,000 endpoints make at most --max-tunnels tunnels; the rest are dropped and counted, health stays 200 and a live flow keeps working', async () => {
    await bed.start('--mode', 'two-arm', '--max-tunnels', '16')
    ping(1)
    await bed.reply(echoReply(9, 1))
    // At most 200 datagrams in flight between looks at health: bounded, and health is watched throughout.
    const statuses = new Set<number | undefined>()
    for (let i = 0; i < 1000; i++) {
      bed.send({eni: (0xe000 + i).toString(16).padStart(16, '0')}, icmpEcho({src: `10.230.${i >> 8}.${i & 0xff}`, dst: '203.0.113.9'}, 9, i))
      if (i % 200 === 199) statuses.add((await bed.health()).status)
    }
    const report = await bed.reportWhen<Report>((r) => r.traffic.packetsIn >= 1001)
    expect(statuses).toEqual(new Set([200]))
    expect(report.tunnels.length).toBe(16)
    // Exactly the packets of the 985 endpoints that found the 16 slots taken (the first 15 waited for theirs).
    expect(report.drops['tunnel-limit']).toBe(1000 - 15)
    await vi.waitFor(() => expect(bed.output).toMatch(/no room for tunnels: 16 exist \(--max-tunnels\); \d+ packets of other endpoints dropped/), {timeout: 3000})
    ping(2)
    await bed.reply(echoReply(9, 2))
    expect((await bed.health()).status).toBe(200)
  }, 60_000)

  it('tunnel-limit counts only packets of endpoints beyond --max-tunnels: a set-up that failed holds no slot and is retried after 5 s, not per packet', async () => {
    // Its ingress name is taken by another kind of interface: its tunnel cannot be made.
    const broken = {eni: '00000000000000b7'}
    bed.appliance.run('ip', 'link', 'add', tunnelNames(0, 0xb7).ingress, 'type', 'veth', 'peer', 'name', 'taken-peer')
    await bed.start('--mode', 'two-arm', '--max-tunnels', '2')
    for (let i = 0; i < 5; i++) {
      bed.send(broken, icmpEcho({src: '10.230.9.9', dst: INTERNET_IP}, 9, i))
      await new Promise((r) => setTimeout(r, 100))
    }
    ping(1)
    await bed.reply(echoReply(9, 1))
    const other = {eni: '00000000000000a2'}
    bed.send(other, icmpEcho({src: '10.200.0.6', dst: INTERNET_IP}, 10, 1))
    await bed.reply(echoReply(10, 1))
    const report = await bed.report<Report>()
    expect(report.drops['tunnel-failed']).toBe(5)
    expect(report.drops['tunnel-limit']).toBe(0)
    expect(bed.output.match(/\(eni-000000000000000b7\) failed/g)).toHaveLength(1)
  })

  it('an endpoint back while its tunnel is being taken down takes its own slot over, even with the table full', async () => {
    await bed.start('--mode', 'two-arm', '--max-tunnels', '1')
    ping(1)
    await bed.reply(echoReply(9, 1))
    bed.appliance.run('ip', 'link', 'del', tunnelNames(0, 0xa1).egress)
    // Asked every 20 ms from the moment the pair starts going: none of it is refused for want of room.
    let answered = false
    for (let seq = 2; !answered && seq < 100; seq++) {
      ping(seq)
      answered = await bed.reply(echoReply(9, seq), 20).then(() => true, () => false)
    }
    expect(answered).toBe(true)
    expect((await bed.report<Report>()).drops['tunnel-limit']).toBe(0)
  })

  it('serves the report off loopback only to the allowed sources when told to listen there', async () => {
    await bed.start('--metrics-listen', `0.0.0.0:9641`, '--allowed-sources', `${GWLB_IP}/32`)
    expect((await bed.gwlbPeer.http(`http://${APPLIANCE_IP}:9641/metrics`)).status).toBe(200)
    expect((await bed.internetPeer.http(`http://${APPLIANCE_EGRESS_IP}:9641/json`)).status).toBe(403)
    expect((await bed.health('/metrics')).status).toBe(404)
  })
})
