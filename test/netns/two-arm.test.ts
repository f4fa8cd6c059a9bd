import {expect, it} from 'vitest'
import {APPLIANCE_EGRESS_IP, APPLIANCE_IP, GWLB_SOURCE_PORT, INTERNET_IP} from '../helpers/appliance-bed.js'
import {useRunningAppliance} from '../helpers/running-appliance.js'
import {describeAsRoot} from '../helpers/root.js'
import {echoReply, geneveHeader, icmpEcho, parseInner, tcpSyn, udp} from '../helpers/packets.js'

const ENI_A = {eni: '2b8ee1d4db0c51c4', cookie: 'aaaa0001'}
const ENI_B = {eni: '0000000000000001', attachment: '1111222233334444', cookie: 'bbbb0002'}
const CLIENT = '10.200.0.5'

describeAsRoot('gwlb appliance run, two-arm (NAT egress)', () => {
  const bed = useRunningAppliance('--mode', 'two-arm')

  it('answers a ping through the GWLB: the first packet creates gwi-/gwo- and is not lost', async () => {
    bed().send(ENI_A, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 0x1234, 1))
    const reply = await bed().reply()
    // Back to the port GWLB sent from, from the appliance's GENEVE port, with the header byte for byte.
    expect(reply.from).toBe(APPLIANCE_IP)
    expect(reply.port).toBe(GWLB_SOURCE_PORT)
    expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader(ENI_A))
    const inner = parseInner(reply.payload.subarray(40))
    expect(inner).toMatchObject({protocol: 1, src: INTERNET_IP, dst: CLIENT})
    expect(inner.payload[0]).toBe(0) // echo reply
    expect(bed().links()).toEqual(expect.arrayContaining(['gwi-5bqWvzLwwkk', 'gwo-5bqWvzLwwkk']))
  })

  it('masquerades to the egress address and returns UDP replies', async () => {
    bed().send(ENI_A, udp({src: CLIENT, dst: INTERNET_IP}, 40001, 7, Buffer.from('hello over geneve')))
    const reply = await bed().reply((p) => p[40 + 9] === 17)
    const inner = parseInner(reply.payload.subarray(40))
    expect(inner).toMatchObject({src: INTERNET_IP, dst: CLIENT})
    expect(inner.payload.readUInt16BE(0)).toBe(7)
    expect(inner.payload.readUInt16BE(2)).toBe(40001)
    expect(inner.payload.subarray(8).toString()).toBe('hello over geneve')
    const conntrack = bed().appliance.run('cat', '/proc/net/nf_conntrack')
    expect(conntrack).toMatch(new RegExp(`src=${CLIENT} dst=${INTERNET_IP} .*dport=7 .*src=${INTERNET_IP} dst=${APPLIANCE_EGRESS_IP}`))
  })

  it('returns a TCP SYN-ACK for a SYN', async () => {
    bed().send(ENI_A, tcpSyn({src: CLIENT, dst: INTERNET_IP}, 40002, 8080))
    const reply = await bed().reply((p) => p[40 + 9] === 6)
    const tcp = parseInner(reply.payload.subarray(40)).payload
    expect(tcp.readUInt16BE(0)).toBe(8080)
    expect(tcp.readUInt16BE(2)).toBe(40002)
    expect(tcp[13]! & 0x12).toBe(0x12) // SYN+ACK
  })

  it('keeps endpoints apart: each reply returns through its own tunnel with its own ENI options', async () => {
    bed().send(ENI_B, icmpEcho({src: '10.201.0.9', dst: INTERNET_IP}, 7, 1))
    bed().send(ENI_A, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 0x1234, 2))
    const b = await bed().reply((p) => parseInner(p.subarray(40)).dst === '10.201.0.9')
    const a = await bed().reply((p) => parseInner(p.subarray(40)).dst === CLIENT)
    expect(b.payload.subarray(0, 40)).toEqual(geneveHeader(ENI_B))
    expect(a.payload.subarray(0, 40)).toEqual(geneveHeader(ENI_A))
    expect(bed().links()).toEqual(expect.arrayContaining(['gwi-1', 'gwo-1', 'gwi-5bqWvzLwwkk']))
    // Replies find their tunnel by its mark; all else jumps past the tunnels' rules in one check, first of all.
    const rules = bed().appliance.run('ip', '-4', 'rule', 'show').split('\n').filter((l) => /^2600[01]:/.test(l))
    expect(rules[0]).toBe('26000:\tnot from all fwmark 0x67770000/0xffff0000 goto 26001')
    expect(rules.slice(1, -1)).toEqual([expect.stringMatching(/fwmark 0x6777000\d lookup 2600\d$/), expect.stringMatching(/fwmark 0x6777000\d lookup 2600\d$/)])
    expect(rules.at(-1)).toBe('26001:\tfrom all nop')
    // The connections are marked by one lookup in a map of the tunnels, not by one rule per tunnel.
    const prerouting = bed().appliance.run('nft', 'list', 'chain', 'inet', 'gwlb', 'prerouting')
    expect(prerouting.match(/ct mark set/g)).toHaveLength(1)
    expect(prerouting).toMatch(/ct direction original ct mark set iifname map \{ "gwi-[^"]+" : 0x6777000\d, "gwi-[^"]+" : 0x6777000\d \}/)
  })

  const coalesced = async () => Number(/^gwlb_coalesced_packets_total (\d+)$/m.exec(await bed().metrics())![1])

  it('NATs a run of one flow once, as a GSO packet, and the far end still gets every datagram as sent', async () => {
    const before = await coalesced()
    // A new endpoint: the burst waits for its tunnel, then goes in with one write call.
    const endpoint = {eni: '00000000000000c0', cookie: 'cccc0003'}
    const texts = Array.from({length: 30}, (_, i) => `datagram ${String(i).padStart(3, '0')} `.repeat(20))
    for (const [i, text] of texts.entries()) bed().send(endpoint, udp({src: CLIENT, dst: INTERNET_IP, id: 500 + i}, 40003, 7, Buffer.from(text)))
    const echoed: string[] = []
    for (const _ of texts) {
      const reply = await bed().reply((p) => p.subarray(12, 20).toString('hex') === endpoint.eni)
      echoed.push(parseInner(reply.payload.subarray(40)).payload.subarray(8).toString())
    }
    expect(echoed).toEqual(texts)
    expect((await coalesced()) - before).toBeGreaterThan(1)
  })

  it('takes down a pair whose interface was deleted by hand, and makes it again with the next packet', async () => {
    const pong = (seq: number) => echoReply(0x2000, seq)
    bed().send(ENI_A, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 0x2000, 1))
    await bed().reply(pong(1))
    bed().appliance.run('ip', 'link', 'del', 'gwo-5bqWvzLwwkk')
    await expect.poll(() => bed().links(), {timeout: 3000}).not.toContain('gwi-5bqWvzLwwkk')
    expect(bed().output).toMatch(/gwi-5bqWvzLwwkk\/gwo-5bqWvzLwwkk: an interface was deleted/)
    bed().send(ENI_A, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 0x2000, 2))
    const reply = await bed().reply(pong(2))
    expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader(ENI_A))
    expect(bed().links(), bed().output).toEqual(expect.arrayContaining(['gwi-5bqWvzLwwkk', 'gwo-5bqWvzLwwkk']))
  })
})
