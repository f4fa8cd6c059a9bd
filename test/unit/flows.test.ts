import {describe, expect, it} from 'vitest'
import {flowKey} from '../../src/appliance/flow-key.js'
import {FlowTable} from '../../src/appliance/flow-table.js'
import {vector} from '../helpers/vectors.js'

const inner = (name: string) => Buffer.from(vector(name).inner_hex!, 'hex')
const keyOf = (b: Buffer) => flowKey(b, 0, b.length)

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
    expect(keyOf(v6)).toMatch(/^58\|/)
    expect(flowKey(v6, 0, 39)).toBeNull()
    expect(flowKey(Buffer.from([0x50, 0, 0, 0]), 0, 4)).toBeNull()
    expect(flowKey(Buffer.alloc(0), 0, 0)).toBeNull()
  })
})

describe('the flow table', () => {
  it('finds a flow until it has been idle longer than the timeout', () => {
    const table = new FlowTable<string>(10, 1000)
    table.insert('k', 'header', 0)
    expect(table.touch('k', 900)?.value).toBe('header')
    expect(table.touch('k', 1800)?.value).toBe('header') // refreshed at 900
    expect(table.touch('k', 2801)).toBeUndefined()
    expect(table.size).toBe(0)
  })

  it('stays within its bound under a flood, evicting the oldest', () => {
    const table = new FlowTable<number>(1000, 60_000)
    for (let i = 0; i < 50_000; i++) table.insert(`flow-${i}`, i, i)
    expect(table.size).toBe(1000)
    expect(table.evictions).toBe(49_000)
    expect(table.touch('flow-48999', 50_000)).toBeUndefined()
    expect(table.touch('flow-49999', 50_000)?.value).toBe(49_999)
  })

  it('sweeps expired flows and those of a tunnel that went away', () => {
    const table = new FlowTable<{tunnel: string}>(10, 1000)
    table.insert('a', {tunnel: 'x'}, 0)
    table.insert('b', {tunnel: 'y'}, 500)
    table.insert('c', {tunnel: 'x'}, 1400)
    expect(table.sweep(1200)).toBe(1) // a expired
    expect(table.sweep(1400, (f) => f.tunnel === 'x')).toBe(1) // c dropped with its tunnel
    expect(table.touch('b', 1400)?.value.tunnel).toBe('y')
  })
})
