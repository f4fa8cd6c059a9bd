/**
 * A test-side packet builder, written independently of the code under test: IPv4/IPv6 with ICMP, UDP and TCP,
 * checksums included, and the GENEVE encapsulation GWLB applies (class 0x0108 options 1, 2, 3).
 */

function checksum(...parts: Buffer[]): number {
  let sum = 0
  for (const part of parts) {
    for (let i = 0; i + 1 < part.length; i += 2) sum += part.readUInt16BE(i)
    if (part.length % 2) sum += part[part.length - 1]! << 8
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

const v4 = (address: string) => Buffer.from(address.split('.').map(Number))

function v6(address: string): Buffer {
  const [head, tail = ''] = address.split('::')
  const words = (s: string) => (s ? s.split(':').map((w) => parseInt(w, 16)) : [])
  const h = words(head!)
  const t = address.includes('::') ? words(tail) : []
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t]
  const out = Buffer.alloc(16)
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2))
  return out
}

export interface Ip {
  src: string
  dst: string
  ttl?: number
}

function ipv4(ip: Ip, protocol: number, payload: Buffer, id = 1): Buffer {
  const header = Buffer.alloc(20)
  header[0] = 0x45
  header.writeUInt16BE(20 + payload.length, 2)
  header.writeUInt16BE(id, 4)
  header[8] = ip.ttl ?? 64
  header[9] = protocol
  v4(ip.src).copy(header, 12)
  v4(ip.dst).copy(header, 16)
  header.writeUInt16BE(checksum(header), 10)
  return Buffer.concat([header, payload])
}

function pseudo4(ip: Ip, protocol: number, length: number): Buffer {
  const p = Buffer.alloc(12)
  v4(ip.src).copy(p, 0)
  v4(ip.dst).copy(p, 4)
  p[9] = protocol
  p.writeUInt16BE(length, 10)
  return p
}

export function icmpEcho(ip: Ip, id: number, seq: number, data = Buffer.from('gwlb-test-ping')): Buffer {
  const icmp = Buffer.concat([Buffer.from([8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]), data])
  icmp.writeUInt16BE(checksum(icmp), 2)
  return ipv4(ip, 1, icmp)
}

export function udp(ip: Ip, sport: number, dport: number, data: Buffer): Buffer {
  const u = Buffer.concat([Buffer.alloc(8), data])
  u.writeUInt16BE(sport, 0)
  u.writeUInt16BE(dport, 2)
  u.writeUInt16BE(u.length, 4)
  u.writeUInt16BE(checksum(pseudo4(ip, 17, u.length), u) || 0xffff, 6)
  return ipv4(ip, 17, u)
}

export function tcpSyn(ip: Ip, sport: number, dport: number, seq = 1000): Buffer {
  const t = Buffer.alloc(20)
  t.writeUInt16BE(sport, 0)
  t.writeUInt16BE(dport, 2)
  t.writeUInt32BE(seq, 4)
  t[12] = 5 << 4
  t[13] = 0x02 // SYN
  t.writeUInt16BE(64240, 14)
  t.writeUInt16BE(checksum(pseudo4(ip, 6, t.length), t), 16)
  return ipv4(ip, 6, t)
}

export function icmpv6Echo(ip: Ip, id: number, seq: number): Buffer {
  const body = Buffer.concat([Buffer.from([128, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]), Buffer.from('gwlb-v6')])
  const pseudo = Buffer.alloc(40)
  v6(ip.src).copy(pseudo, 0)
  v6(ip.dst).copy(pseudo, 16)
  pseudo.writeUInt32BE(body.length, 32)
  pseudo[39] = 58
  body.writeUInt16BE(checksum(pseudo, body), 2)
  const header = Buffer.alloc(40)
  header.writeUInt32BE(0x60000000, 0)
  header.writeUInt16BE(body.length, 4)
  header[6] = 58
  header[7] = ip.ttl ?? 64
  v6(ip.src).copy(header, 8)
  v6(ip.dst).copy(header, 24)
  return Buffer.concat([header, body])
}

export interface GwlbOptions {
  /** 16 hex digits. */
  eni: string
  attachment?: string
  cookie?: string
}

/** GENEVE as GWLB sends it: base header, then the three AWS options (32 bytes). */
export function geneveHeader(o: GwlbOptions, protocol: 'ipv4' | 'ipv6' = 'ipv4'): Buffer {
  const option = (type: number, hex: string) => Buffer.concat([Buffer.from([0x01, 0x08, type, hex.length / 8]), Buffer.from(hex, 'hex')])
  const options = Buffer.concat([option(1, o.eni), option(2, o.attachment ?? '0a1b2c3d4e5f6071'), option(3, o.cookie ?? '11223344')])
  const base = Buffer.from([options.length / 4, 0, 0, 0, 0, 0, 0, 0])
  base.writeUInt16BE(protocol === 'ipv4' ? 0x0800 : 0x86dd, 2)
  return Buffer.concat([base, options])
}

export function encapsulate(o: GwlbOptions, inner: Buffer): Buffer {
  return Buffer.concat([geneveHeader(o, inner[0]! >> 4 === 6 ? 'ipv6' : 'ipv4'), inner])
}

/** Reads back what a test needs from an inner IPv4/IPv6 packet. */
export function parseInner(p: Buffer) {
  if (p[0]! >> 4 === 6) {
    return {version: 6, protocol: p[6]!, ttl: p[7]!, src: p.subarray(8, 24), dst: p.subarray(24, 40), payload: p.subarray(40)}
  }
  const ihl = (p[0]! & 0x0f) * 4
  const ip = (b: Buffer) => [...b].join('.')
  return {version: 4, protocol: p[9]!, ttl: p[8]!, src: ip(p.subarray(12, 16)), dst: ip(p.subarray(16, 20)), payload: p.subarray(ihl, p.readUInt16BE(2))}
}
