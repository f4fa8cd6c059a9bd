import {afterAll, beforeAll, expect, it} from 'vitest'
import {APPLIANCE_IP, ApplianceBed, GWLB_IP, INTERNET_IP} from '../helpers/appliance-bed.js'
import {encapsulate, geneveHeader, parseInner, udp} from '../helpers/packets.js'
import {describeAsRoot} from '../helpers/root.js'

const FLOWS = 32
const ENI = {eni: '2b8ee1d4db0c51c4'}
const cookie = (n: number) => (0x70000000 + n).toString(16)

describeAsRoot('gwlb appliance run with several data-plane workers', () => {
  let bed: ApplianceBed
  beforeAll(async () => {
    bed = new ApplianceBed()
    await bed.setUp()
    await bed.start('--mode', 'two-arm', '--workers', '2')
    // GENEVE senders pick the UDP source port from the inner flow (RFC 8926 §3.3): one port per flow here,
    // so that the kernel spreads the flows over both workers' sockets.
    for (let n = 0; n < FLOWS; n++) bed.gwlbPeer.command({op: 'bind', id: `flow${n}`, port: 52000 + n, address: GWLB_IP})
    for (let n = 0; n < FLOWS; n++) await bed.gwlbPeer.next((e) => e.event === 'bound' && e.id === `flow${n}`)
  })
  afterAll(async () => bed?.cleanup())

  it('returns every flow with its own header, also when the reply is read by another worker than the request', async () => {
    for (let n = 0; n < FLOWS; n++) {
      const datagram = encapsulate({...ENI, cookie: cookie(n)}, udp({src: '10.200.0.5', dst: INTERNET_IP}, 41000 + n, 7, Buffer.from(`flow ${n}`)))
      bed.gwlbPeer.command({op: 'send', id: `flow${n}`, to: APPLIANCE_IP, port: 6081, hex: datagram.toString('hex')})
    }
    for (let n = 0; n < FLOWS; n++) {
      const reply = await bed.reply((p) => parseInner(p.subarray(40)).payload.readUInt16BE(2) === 41000 + n, 5000)
      expect(reply.port).toBe(52000 + n) // back to the port that flow came from
      expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader({...ENI, cookie: cookie(n)}))
      expect(parseInner(reply.payload.subarray(40)).payload.subarray(8).toString()).toBe(`flow ${n}`)
    }
    const report = await bed.report<{workers: number; crossWorkerReplies: number; drops: Record<string, number>}>()
    expect(report.workers).toBe(2)
    expect(report.crossWorkerReplies).toBeGreaterThan(0)
    expect(report.drops['unknown-flow']).toBe(0)
  })
})
