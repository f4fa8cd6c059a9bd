import {expect, it} from 'vitest'
import {useRunningAppliance} from '../helpers/running-appliance.js'
import {describeAsRoot} from '../helpers/root.js'
import {geneveHeader, icmpEcho, icmpv6Echo, parseInner, tcpSyn, udp} from '../helpers/packets.js'

const ENI = {eni: '0123456789abcdef', cookie: 'cafef00d'}
const CLIENT = '10.200.0.5'
const SERVER = '203.0.113.80'

describeAsRoot('gwlb appliance run, one-arm (inspect and return)', () => {
  const bed = useRunningAppliance('--mode', 'one-arm')

  /** In one-arm mode the packet itself comes back, one hop older, with its flow's GENEVE header. */
  async function roundTrip(inner: Buffer, protocol: 'ipv4' | 'ipv6' = 'ipv4') {
    bed().send(ENI, inner)
    const reply = await bed().reply((p) => p.subarray(40).subarray(0, 1)[0]! >> 4 === (protocol === 'ipv4' ? 4 : 6))
    expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader(ENI, protocol))
    const back = reply.payload.subarray(40)
    const sent = parseInner(inner)
    const got = parseInner(back)
    expect(got.ttl).toBe(sent.ttl - 1)
    expect(got.src).toEqual(sent.src)
    expect(got.dst).toEqual(sent.dst)
    expect(got.payload).toEqual(sent.payload)
    return got
  }

  it('routes ICMP from gwi- through the kernel and back out of gwo- to the GWLB', async () => {
    await roundTrip(icmpEcho({src: CLIENT, dst: SERVER}, 9, 1))
    expect(bed().appliance.run('ip', 'rule', 'show')).toMatch(/iif gwi-\w+ lookup 26001/)
  })

  it('puts no qdisc in front of the tunnel interfaces (the default costs 24 MB of kernel memory each)', () => {
    const tunnels = bed().links().filter((l) => /^gw[io]-/.test(l))
    expect(tunnels).toHaveLength(2)
    for (const name of tunnels) expect(bed().appliance.run('tc', 'qdisc', 'show', 'dev', name)).toMatch(/^qdisc noqueue \S+ root/)
  })

  it('returns UDP and TCP unchanged but for the TTL', async () => {
    await roundTrip(udp({src: CLIENT, dst: SERVER}, 5353, 53, Buffer.from('query')))
    await roundTrip(tcpSyn({src: CLIENT, dst: SERVER}, 40100, 443))
  })

  it('carries IPv6 inner packets', async () => {
    const got = await roundTrip(icmpv6Echo({src: 'fd00:200::5', dst: '2001:db8::10'}, 3, 1), 'ipv6')
    expect(got.protocol).toBe(58)
  })

  it('drops what the appliance itself sends into a tunnel: GWLB only takes back flows it sent', async () => {
    const gwo = bed().links().find((l) => l.startsWith('gwo-'))!
    expect(() => bed().appliance.run('ping', '-c', '1', '-W', '1', '-I', gwo, '203.0.113.99')).toThrow()
    await expect(bed().reply(() => true, 1000)).rejects.toThrow(/no matching event/)
    const report = await bed().report<{drops: Record<string, number>}>()
    expect(report.drops['unknown-flow']).toBe(1)
  })

  it('new tunnel interfaces send nothing of their own into the tunnel (their MLD reports would count as link-local drops)', async () => {
    // The kernel reports joining ff02::2 twice, a second apart, after each interface comes up.
    await new Promise((r) => setTimeout(r, 2500))
    const report = await bed().report<{drops: Record<string, number>}>()
    expect(report.drops['link-local'] ?? 0).toBe(0)
  })

  it('applies no NAT', () => {
    expect(bed().appliance.run('nft', 'list', 'table', 'inet', 'gwlb')).not.toMatch(/masquerade/)
  })
})
