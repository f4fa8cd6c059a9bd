import {afterEach, beforeEach, expect, it} from 'vitest'
import {ApplianceBed, GWLB_SOURCE_PORT, GWLB_SUBNET, INTERNET_IP} from '../helpers/appliance-bed.js'
import {describeAsRoot} from '../helpers/root.js'
import {geneveHeader, icmpEcho, icmpv6Echo, parseInner, udp} from '../helpers/packets.js'
import type {HealthReport} from '../../src/appliance/health/report.js'
import {tunnelNames} from '../../src/appliance/host/names.js'

const ENI = {eni: '00000000000000d1', cookie: 'dddd0001'}
const TUNNEL = tunnelNames(0, 0xd1).ingress
const CLIENT = '10.200.0.5'

/**
 * The BPF data path in the bed's namespaces: the same appliance, with --datapath bpf or auto. (The whole netns
 * suite also runs against it, with GWLB_TEST_DATAPATH=bpf; these are what only it has.)
 */
describeAsRoot('gwlb appliance run --datapath bpf: the kernel moves the packets of tunnels that are up', () => {
  let bed: ApplianceBed
  beforeEach(async () => {
    bed = new ApplianceBed()
    await bed.setUp()
  })
  afterEach(async () => bed?.cleanup())

  const report = () => bed.report<HealthReport>()
  const filters = (device: string, direction: 'ingress' | 'egress') => bed.appliance.run('tc', 'filter', 'show', 'dev', device, direction)
  /** n datagrams of one flow, each echoed by the internet host and returned through the GWLB. */
  async function echoes(n: number, sport: number, eni = ENI) {
    for (let i = 0; i < n; i++) {
      bed.send(eni, udp({src: CLIENT, dst: INTERNET_IP}, sport, 7, Buffer.from(`datagram ${i}`)))
      const reply = await bed.reply((p) => parseInner(p.subarray(40)).payload.readUInt16BE(2) === sport)
      expect(parseInner(reply.payload.subarray(40)).payload.subarray(8).toString()).toBe(`datagram ${i}`)
      expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader(eni))
      expect(reply.port).toBe(GWLB_SOURCE_PORT)
    }
  }

  it('two-arm: after the first packet (which makes the tunnel in user space) the kernel carries the flow both ways', async () => {
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf')
    expect(bed.output).toMatch(/through the BPF data path on a0/)
    await echoes(20, 41000)
    const r = await report()
    expect(r.datapath).toBe('bpf')
    // The first datagram and its reply crossed user space (no tunnel yet); the others did not.
    expect(r.kernelTraffic.packetsIn).toBeGreaterThanOrEqual(19)
    expect(r.kernelTraffic.packetsOut).toBeGreaterThanOrEqual(19)
    expect(r.tunnels[0]!.traffic.packetsIn).toBe(20)
    // 30 more flows, all in the kernel from their first packet: 31 in its map; the first flow is also in the
    // TUN path's table (its first packet made the tunnel). Both paths count their flows once a second.
    for (let sport = 42000; sport < 42030; sport++) await echoes(1, sport)
    await expect.poll(async () => (await report()).flows, {timeout: 3000, interval: 200}).toBeGreaterThanOrEqual(31)
    expect((await report()).flows).toBeLessThanOrEqual(32)
    expect(filters('a0', 'ingress')).toMatch(/gwlb_ingress.*direct-action/)
    expect(filters(TUNNEL, 'egress')).toMatch(/gwlb_egress.*direct-action/)
    expect(await bed.metrics()).toMatch(/^gwlb_datapath\{datapath="bpf"\} 1$/m)
  })

  it('one-arm: IPv4 and IPv6 inner packets go back out of the tunnel they came in by, with their header', async () => {
    await bed.start('--mode', 'one-arm', '--datapath', 'bpf')
    for (let seq = 1; seq <= 5; seq++) {
      bed.send(ENI, icmpv6Echo({src: 'fd00:200::5', dst: '2001:db8::10'}, 3, seq))
      const six = await bed.reply((p) => p[40]! >> 4 === 6)
      expect(six.payload.subarray(0, 40)).toEqual(geneveHeader(ENI, 'ipv6'))
      bed.send(ENI, icmpEcho({src: CLIENT, dst: INTERNET_IP}, 4, seq))
      const four = await bed.reply((p) => p[40]! >> 4 === 4)
      expect(parseInner(four.payload.subarray(40))).toMatchObject({protocol: 1, src: CLIENT, dst: INTERNET_IP})
    }
    const r = await report()
    expect(r.kernelTraffic.packetsIn).toBeGreaterThanOrEqual(9)
    expect(r.kernelTraffic.packetsOut).toBeGreaterThanOrEqual(9)
  })

  it('inner IPv4 packets with options: flows told apart by the ports after the options, each back with its own header', async () => {
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf')
    const nops = Buffer.from([1, 1, 1, 0]) // NOP, NOP, NOP, end of options: a 24-byte header
    const flows = [{sport: 43001, cookie: 'dddd0011'}, {sport: 43002, cookie: 'dddd0012'}]
    for (let round = 0; round < 3; round++) {
      // Both requests go out before either echo comes back: flows keyed as one would return one header twice.
      for (const {sport, cookie} of flows) bed.send({...ENI, cookie}, udp({src: CLIENT, dst: INTERNET_IP, options: nops}, sport, 7, Buffer.from(`${round}`)))
      for (const {sport, cookie} of flows) {
        const reply = await bed.reply((p) => parseInner(p.subarray(40)).payload.readUInt16BE(2) === sport)
        expect(reply.payload.subarray(0, 40)).toEqual(geneveHeader({...ENI, cookie}))
      }
    }
    // The first round went through user space (no tunnel yet); the other two both ways in the kernel.
    const r = await report()
    expect(r.kernelTraffic.packetsIn).toBe(4)
    expect(r.kernelTraffic.packetsOut).toBeGreaterThanOrEqual(4)
  })

  it('the latest options of a flow win: a new cookie mid-flow goes back with the next reply', async () => {
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf')
    await echoes(3, 41001)
    await echoes(3, 41001, {...ENI, cookie: 'dddd0002'})
  })

  it('stop takes the programs off every interface; kill -9 leaves the GENEVE one, which the next start removes', async () => {
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf')
    await echoes(2, 41002)
    const exited = new Promise((resolve) => bed.process!.once('exit', resolve))
    bed.process!.kill('SIGKILL')
    await exited
    expect(filters('a0', 'ingress')).toMatch(/gwlb_ingress/)
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf')
    expect(bed.output).toMatch(/removed the BPF program a previous run left on a0/)
    await echoes(2, 41002)
    expect(await bed.stop()).toBe(0)
    expect(filters('a0', 'ingress')).toBe('')
    expect(bed.appliance.run('tc', 'qdisc', 'show', 'dev', 'a0')).not.toMatch(/clsact/)
    expect(bed.links()).not.toContain(TUNNEL)
  })

  it('a tunnel the kernel alone keeps busy is not idle; once quiet it goes, and the next packet makes it again', async () => {
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf', '--idle-timeout', '2', '--flow-timeout', '1')
    const until = Date.now() + 4000
    for (let i = 0; Date.now() < until; i++) {
      await echoes(1, 41003)
      await new Promise((r) => setTimeout(r, 300))
    }
    // Not once taken down and made again by the next packet: the kernel's packets count as activity.
    expect(bed.output).not.toMatch(/tunnel down/)
    expect(bed.links()).toContain(TUNNEL)
    expect((await report()).kernelTraffic.packetsIn).toBeGreaterThan(5)
    await expect.poll(() => bed.links(), {timeout: 6000, interval: 200}).not.toContain(TUNNEL)
    await echoes(2, 41003)
    expect(bed.links()).toContain(TUNNEL)
  })

  it('takes up to 1,024 allowed source blocks; with more, bpf refuses to start, saying so, and leaves nothing attached', async () => {
    // The GWLB's subnet (first: the GENEVE interface is the one that routes to it), then /30s from 172.16.0.0 up.
    const blocks = (n: number) => [GWLB_SUBNET, ...Array.from({length: n - 1}, (_, i) => `172.16.${i >> 6}.${(i & 63) * 4}/30`)].join(',')
    await bed.start('--mode', 'two-arm', '--datapath', 'bpf', '--allowed-sources', blocks(1024))
    // 172.16/30s route out of e0: said, for the first few of the blocks.
    expect(bed.output).toMatch(/^datapath: GENEVE from 172\.16\.0\.0 would come in on e0, not on a0 where the kernel path is: it takes the TUN path \(if a0 is wrong, pass --geneve-interface\)$/m)
    expect(bed.output.match(/^datapath: GENEVE from/gm)).toHaveLength(7)
    expect(bed.output).toMatch(/GENEVE on UDP 6081 from 1024 blocks \(10\.77\.0\.0\/24, 172\.16\.0\.0\/30, 172\.16\.0\.4\/30, 172\.16\.0\.8\/30, …\) through/)
    await echoes(3, 41005)
    expect((await report()).kernelTraffic.packetsIn).toBeGreaterThanOrEqual(2)
    expect(await bed.stop()).toBe(0)

    await expect(bed.start('--mode', 'two-arm', '--datapath', 'bpf', '--allowed-sources', blocks(1025))).rejects.toThrow(/appliance exited \(1\)/)
    expect(bed.output.trim()).toMatch(/^Error: the BPF data path cannot load on a0: --allowed-sources has 1025 blocks, and the kernel path takes 1024 at most/m)
    expect(filters('a0', 'ingress')).toBe('')
  })

  it('without CAP_BPF, auto says why in one line and runs the TUN path; bpf refuses to start', async () => {
    bed.withoutCapabilities = ['CAP_BPF']
    await bed.start('--mode', 'two-arm', '--datapath', 'auto')
    expect(bed.output.match(/datapath auto: the TUN path, since .*Operation not permitted/g)).toHaveLength(1)
    expect(bed.output).toMatch(/through the TUN data path/)
    await echoes(3, 41004)
    expect((await report()).datapath).toBe('tun')
    expect(await bed.stop()).toBe(0)

    await expect(bed.start('--mode', 'two-arm', '--datapath', 'bpf')).rejects.toThrow(/appliance exited \(1\)/)
    expect(bed.output.trim()).toMatch(/^Error: the BPF data path cannot load on a0: .*Operation not permitted — run it with --datapath tun/m)
    expect(filters('a0', 'ingress')).toBe('')
  })
})
