import {describe, expect, it} from 'vitest'
import {FlowTable, type FlowInfo} from '../../src/appliance/datapath/tun/flow-table.js'
import {MAX_HEADER} from '../../src/generated/abi.js'
import {vector} from '../helpers/vectors.js'

const inner = (name: string) => Buffer.from(vector(name).inner_hex!, 'hex')
const info = (tunnel = 1): FlowInfo => ({gwlbAddress: 0x0a4d0001, gwlbPort: 6081, localAddress: 0x0a4d0002, tunnel, worker: 1})

/** The key a packet gives, as hex. */
function keyOf(packet: Buffer, table = new FlowTable(16, 350)): string | null {
  return table.keyOf(packet, 0, packet.length) ? table.keyHex : null
}

/** Swaps an IPv4 packet's addresses and (when it has them) ports: the reply's header. */
function reversedIpv4(packet: Buffer, withPorts: boolean): Buffer {
  const r = Buffer.from(packet)
  packet.copy(r, 12, 16, 20)
  packet.copy(r, 16, 12, 16)
  const ihl = (packet[0]! & 0x0f) * 4
  if (withPorts) {
    packet.copy(r, ihl, ihl + 2, ihl + 4)
    packet.copy(r, ihl + 2, ihl, ihl + 2)
  }
  return r
}

/** A UDP packet of flow number n (distinct source port and address). */
function flowPacket(n: number): Buffer {
  const p = Buffer.from(inner('ipv4-udp-dns'))
  p.writeUInt16BE(n & 0xffff, 20)
  p.writeUInt16BE(n >>> 16, 14)
  return p
}

const header = (cookie: number) => {
  const h = Buffer.alloc(40, 0xab)
  h.writeUInt32BE(cookie, 36)
  return h
}

describe('flow keys', () => {
  it('give a reply the key of its request (TCP, UDP, ICMP)', () => {
    for (const [name, ports] of [['ipv4-tcp-syn', true], ['ipv4-udp-dns', true], ['ipv4-icmp-echo', false]] as const) {
      const request = inner(name)
      expect(keyOf(reversedIpv4(request, ports))).toBe(keyOf(request))
    }
  })

  it('tell flows apart by port for TCP/UDP and by protocol', () => {
    const a = inner('ipv4-udp-dns')
    const b = Buffer.from(a)
    b[20] = 0x11 // another source port
    expect(keyOf(b)).not.toBe(keyOf(a))
    const c = Buffer.from(a)
    c[9] = 6 // same addresses and ports, TCP
    expect(keyOf(c)).not.toBe(keyOf(a))
  })

  it('key ICMP by addresses only, so every echo between two hosts is one flow', () => {
    const a = inner('ipv4-icmp-echo')
    const b = Buffer.from(a)
    b[24] = b[24]! ^ 0xff // another identifier
    expect(keyOf(b)).toBe(keyOf(a))
  })

  it('read IPv6 packets, and refuse what is not a whole IP header', () => {
    const v6 = inner('ipv6-icmpv6-echo')
    expect(keyOf(v6)).toMatch(/^3a/)
    expect(new FlowTable(16, 1).keyOf(v6, 0, 39)).toBe(false)
    expect(keyOf(Buffer.from([0x50, 0, 0, 0]))).toBeNull()
    expect(keyOf(Buffer.alloc(0))).toBeNull()
  })
})

describe('the flow table', () => {
  it('gives a reply its request\'s header and GWLB address, until the flow has been idle past the timeout', () => {
    const table = new FlowTable(16, 10)
    const request = inner('ipv4-udp-dns')
    table.keyOf(request, 0, request.length)
    expect(table.remember(100, header(7), 0, 40, info())).toBe(true)
    const reply = reversedIpv4(request, true)
    const out = Buffer.alloc(100)
    const got = info(0)
    table.keyOf(reply, 0, reply.length)
    expect(table.lookup(109, out, 100, got)).toBe(40)
    expect(out.subarray(60)).toEqual(header(7))
    expect(got).toEqual(info())
    expect(table.lookup(119, out, 100, got)).toBe(40) // refreshed at 109
    expect(table.lookup(130, out, 100, got)).toBe(-1)
    expect(table.count(130)).toBe(0)
  })

  it('refreshes the header in place: one entry per flow, the latest cookie', () => {
    const table = new FlowTable(16, 10)
    const p = inner('ipv4-tcp-syn')
    table.keyOf(p, 0, p.length)
    table.remember(1, header(1), 0, 40, info())
    table.remember(2, header(2), 0, 40, info())
    const out = Buffer.alloc(40)
    expect(table.lookup(2, out, 40, info())).toBe(40)
    expect(out.readUInt32BE(36)).toBe(2)
    expect(table.count(2)).toBe(1)
  })

  it('keeps headers up to 64 bytes and refuses longer ones', () => {
    const table = new FlowTable(16, 10)
    const p = inner('ipv4-tcp-syn')
    table.keyOf(p, 0, p.length)
    expect(table.remember(1, Buffer.alloc(MAX_HEADER + 4), 0, MAX_HEADER + 4, info())).toBe(false)
    expect(table.remember(1, Buffer.alloc(MAX_HEADER), 0, MAX_HEADER, info())).toBe(true)
  })

  it('holds at most --max-flows flows under a flood of new ones, keeping the most recent, and counts what it evicts', () => {
    const table = new FlowTable(1000, 350)
    for (let n = 0; n < 50_000; n++) {
      const p = flowPacket(n)
      table.keyOf(p, 0, p.length)
      table.remember(Math.floor(n / 100), header(n), 0, 40, info())
    }
    expect(table.buffer.byteLength).toBe(1000 * 128) // a slot a flow, 128 bytes each
    expect(table.count(500)).toBeLessThanOrEqual(1000)
    expect(table.count(500)).toBeGreaterThan(900)
    // Every flow past the table's fill pushed one out.
    expect(table.evictions).toBe(50_000 - table.count(500))
    const recent = flowPacket(49_999)
    table.keyOf(recent, 0, recent.length)
    expect(table.lookup(500, Buffer.alloc(40), 40, info())).toBe(40)
  })

  it('is shared: a table made on the same buffer (another worker) sees the same flows', () => {
    const a = new FlowTable(64, 10)
    const b = new FlowTable(64, 10, a.buffer)
    const p = inner('ipv4-udp-dns')
    a.keyOf(p, 0, p.length)
    a.remember(5, header(9), 0, 40, info(3))
    const reply = reversedIpv4(p, true)
    b.keyOf(reply, 0, reply.length)
    const got = info(0)
    expect(b.lookup(5, Buffer.alloc(40), 40, got)).toBe(40)
    expect(got).toMatchObject({tunnel: 3, worker: 1})
  })
})
