import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AWS_HEADER_LENGTH, decodeGeneve, GenevePacket, writeGwlbHeader} from '../../src/appliance/geneve.js'
import {flowKey, StickyFlows, innerTuple, type Tuple} from '../../src/lab/flows.js'
import {HealthChecker, probe, type HealthCheckSettings} from '../../src/lab/health-checks.js'
import {payload, vectors} from '../helpers/vectors.js'

describe('the GWLB stand-in writes GENEVE as GWLB does', () => {
  const gwlbVectors = vectors.filter((v) => v.valid && v.header_length === AWS_HEADER_LENGTH)

  it('byte for byte the header of each independent (scapy) vector with the AWS options', () => {
    expect(gwlbVectors.length).toBeGreaterThanOrEqual(5)
    for (const v of gwlbVectors) {
      const header = Buffer.alloc(AWS_HEADER_LENGTH)
      writeGwlbHeader(header, 0, v.protocol_type!, {eni: v.gwlbe_eni_id!, attachment: v.attachment_id!, flowCookie: Number.parseInt(v.flow_cookie!, 16)})
      expect(header.toString('hex'), v.name).toBe(payload(v).subarray(0, AWS_HEADER_LENGTH).toString('hex'))
    }
  })

  it('and the appliance\'s decoder reads it back', () => {
    const inner = payload(gwlbVectors[0]!).subarray(AWS_HEADER_LENGTH)
    const datagram = Buffer.concat([Buffer.alloc(AWS_HEADER_LENGTH), inner])
    writeGwlbHeader(datagram, 0, 0x0800, {eni: 'ffffffff00000001', attachment: '8000000000000000', flowCookie: 0xfffffffe})
    const out = new GenevePacket()
    expect(decodeGeneve(datagram, 0, datagram.length, out)).toBeNull()
    expect([out.eniHex, out.attachmentHex, out.flowCookie, out.innerLength]).toEqual(['ffffffff00000001', '8000000000000000', 0xfffffffe, inner.length])
  })
})

describe('flows as GWLB keys them', () => {
  it('reads the inner 5-tuple of IPv4 and IPv6 packets (the vectors say what they hold)', () => {
    for (const v of vectors.filter((x) => x.valid && x.inner_src)) {
      const bytes = payload(v)
      const t = innerTuple(bytes, v.header_length!, bytes.length - v.header_length!)!
      expect(t, v.name).toMatchObject({protocol: v.inner_proto, src: v.inner_src, dst: v.inner_dst})
      if (v.inner_sport !== undefined) expect([t.srcPort, t.dstPort], v.name).toEqual([v.inner_sport, v.inner_dport])
    }
  })

  const request: Tuple = {protocol: 6, src: '10.0.1.10', srcPort: 40000, dst: '198.18.0.10', dstPort: 80}
  const reply: Tuple = {protocol: 6, src: '198.18.0.10', srcPort: 80, dst: '10.0.1.10', dstPort: 40000}
  const otherPort = {...request, srcPort: 40001}
  const udp = {...request, protocol: 17}

  it('gives both directions of a flow one key, by 5-, 3- or 2-tuple', () => {
    expect(flowKey(request, '5-tuple')).toBe(flowKey(reply, '5-tuple'))
    expect(flowKey(request, '5-tuple')).not.toBe(flowKey(otherPort, '5-tuple'))
    expect(flowKey(request, '3-tuple')).toBe(flowKey(otherPort, '3-tuple'))
    expect(flowKey(request, '3-tuple')).not.toBe(flowKey(udp, '3-tuple'))
    expect(flowKey(request, '2-tuple')).toBe(flowKey(udp, '2-tuple'))
  })

  it('sends new flows to healthy targets only, and spreads them', () => {
    const table = new StickyFlows('5-tuple', false)
    const targets = Array.from({length: 200}, (_, i) => table.route({...request, srcPort: 30000 + i}, 60, [true, false, true])!.target)
    expect(new Set(targets)).toEqual(new Set([0, 2]))
    expect(targets.filter((t) => t === 0).length).toBeGreaterThan(60)
    expect(targets.filter((t) => t === 2).length).toBeGreaterThan(60)
    expect(table.failOpen).toBe(0)
  })

  it('keeps a flow on its target, both ways, with one cookie', () => {
    const table = new StickyFlows('5-tuple', false)
    const first = table.route(request, 60, [true, true])!
    const back = table.route(reply, 60, [true, true])
    expect(back).toBe(first)
    expect([first.packets, first.bytes]).toEqual([2, 120])
  })

  it('fails open when no target is healthy: every target takes new flows', () => {
    const table = new StickyFlows('5-tuple', false)
    const targets = Array.from({length: 50}, (_, i) => table.route({...request, srcPort: 30000 + i}, 60, [false, false])!.target)
    expect(new Set(targets)).toEqual(new Set([0, 1]))
    expect(table.failOpen).toBe(50)
  })

  it('no-rebalance: a flow stays on its unhealthy target; rebalance: it moves to a healthy one', () => {
    for (const [rebalance, stays] of [[false, true], [true, false]] as const) {
      const table = new StickyFlows('5-tuple', rebalance)
      const flow = table.route(request, 60, [true, true])!
      const before = flow.target
      const healthy = [true, true]
      healthy[before] = false
      expect(table.route(request, 60, healthy)!.target === before).toBe(stays)
      expect(table.rebalanced).toBe(stays ? 0 : 1)
    }
  })

  it('holds at most maxFlows: a new flow beyond has no target until others expire', () => {
    const table = new StickyFlows('5-tuple', false, 3)
    const routed = Array.from({length: 5}, (_, i) => table.route({...request, srcPort: 30000 + i}, 60, [true], 0))
    expect(routed.map(Boolean)).toEqual([true, true, true, false, false])
    expect(table.route({...request, srcPort: 30000}, 60, [true], 0)).toBeDefined()
    table.expire(400_000)
    expect(table.route({...request, srcPort: 30004}, 60, [true], 400_000)).toBeDefined()
  })

  it('forgets idle flows after GWLB\'s timeouts: 350 s for TCP, 120 s for the rest', () => {
    const table = new StickyFlows('5-tuple', false)
    table.route(request, 60, [true], 0)
    table.route(udp, 60, [true], 0)
    expect(table.expire(121_000)).toBe(1)
    expect(table.expire(349_000)).toBe(0)
    expect(table.expire(351_000)).toBe(1)
    expect(table.flows.size).toBe(0)
  })
})

describe('health checks as the target group makes them', () => {
  let server: Server
  let status = 200
  let port = 0
  beforeAll(async () => {
    server = createServer((_, res) => res.writeHead(status).end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(() => {
    server.close()
  })

  it('HTTP passes on 200–399 and fails otherwise; TCP passes on a connect; a closed port fails', async () => {
    const http = {protocol: 'HTTP' as const, port: 0, timeoutSeconds: 1}
    status = 302
    expect(await probe('127.0.0.1', {...http, port})).toEqual({ok: true, detail: 'HTTP 302'})
    status = 503
    expect(await probe('127.0.0.1', {...http, port})).toEqual({ok: false, detail: 'HTTP 503'})
    expect(await probe('127.0.0.1', {...http, port, protocol: 'TCP'})).toEqual({ok: true, detail: 'connected'})
    server.close()
    expect(await probe('127.0.0.1', {...http, port, protocol: 'TCP'})).toEqual({ok: false, detail: 'ECONNREFUSED'})
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  })

  it('turns a target healthy after the healthy threshold, unhealthy after the unhealthy threshold', async () => {
    const settings: HealthCheckSettings = {protocol: 'HTTP', port, intervalSeconds: 0.02, timeoutSeconds: 1, healthyThreshold: 3, unhealthyThreshold: 2}
    const changes: string[] = []
    status = 200
    const checker = new HealthChecker(['127.0.0.1'], settings, (_, h) => changes.push(`${h.state} after ${h.streak}`))
    expect(checker.health[0]!.state).toBe('initial')
    checker.start()
    await expect.poll(() => checker.healthy()[0]).toBe(true)
    status = 500
    await expect.poll(() => checker.health[0]!.state).toBe('unhealthy')
    checker.stop()
    expect(changes).toEqual(['healthy after 3', 'unhealthy after 2'])
  })
})
