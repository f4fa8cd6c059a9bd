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
  /** IPv4 or IPv6, as the addresses are written. */
  src: string
  dst: string
  ttl?: number
  /** IPv4 identification (1 if not given). */
  id?: number
  /** IPv4 don't-fragment bit. */
  df?: boolean
  /** IPv4 options, a multiple of 4 bytes. */
  options?: Buffer
}

function ipv4(ip: Ip, protocol: number, payload: Buffer): Buffer {
  const options = ip.options ?? Buffer.alloc(0)
  const header = Buffer.alloc(20 + options.length)
  header[0] = 0x40 | (header.length / 4)
  options.copy(header, 20)
  header.writeUInt16BE(header.length + payload.length, 2)
  header.writeUInt16BE(ip.id ?? 1, 4)
  if (ip.df) header[6] = 0x40
  header[8] = ip.ttl ?? 64
  header[9] = protocol
  v4(ip.src).copy(header, 12)
  v4(ip.dst).copy(header, 16)
  header.writeUInt16BE(checksum(header), 10)
  return Buffer.concat([header, payload])
}

function ipv6(ip: Ip, protocol: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(40)
  header.writeUInt32BE(0x60000000, 0)
  header.writeUInt16BE(payload.length, 4)
  header[6] = protocol
  header[7] = ip.ttl ?? 64
  v6(ip.src).copy(header, 8)
  v6(ip.dst).copy(header, 24)
  return Buffer.concat([header, payload])
}

const isV6 = (ip: Ip) => ip.src.includes(':')

function pseudoHeader(ip: Ip, protocol: number, length: number): Buffer {
  if (isV6(ip)) {
    const p = Buffer.alloc(40)
    v6(ip.src).copy(p, 0)
    v6(ip.dst).copy(p, 16)
    p.writeUInt32BE(length, 32)
    p[39] = protocol
    return p
  }
  const p = Buffer.alloc(12)
  v4(ip.src).copy(p, 0)
  v4(ip.dst).copy(p, 4)
  p[9] = protocol
  p.writeUInt16BE(length, 10)
  return p
}

const ipPacket = (ip: Ip, protocol: number, payload: Buffer) => (isV6(ip) ? ipv6(ip, protocol, payload) : ipv4(ip, protocol, payload))

export function icmpEcho(ip: Ip, id: number, seq: number, data = Buffer.from('gwlb-test-ping')): Buffer {
  const icmp = Buffer.concat([Buffer.from([8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]), data])
  icmp.writeUInt16BE(checksum(icmp), 2)
  return ipv4(ip, 1, icmp)
}

/** UDP over IPv4 or IPv6; `checksum: false` sends none (IPv4's 0). */
export function udp(ip: Ip, sport: number, dport: number, data: Buffer, o: {checksum?: boolean} = {}): Buffer {
  const u = Buffer.concat([Buffer.alloc(8), data])
  u.writeUInt16BE(sport, 0)
  u.writeUInt16BE(dport, 2)
  u.writeUInt16BE(u.length, 4)
  if (o.checksum !== false) u.writeUInt16BE(checksum(pseudoHeader(ip, 17, u.length), u) || 0xffff, 6)
  return ipPacket(ip, 17, u)
}

export const TCP_FIN = 0x01
export const TCP_SYN = 0x02
export const TCP_PSH = 0x08
export const TCP_ACK = 0x10

export interface TcpFields {
  seq: number
  ack?: number
  flags: number
  window?: number
  /** Raw option bytes, a multiple of 4. */
  options?: Buffer
  data?: Buffer
}

export function tcp(ip: Ip, sport: number, dport: number, f: TcpFields): Buffer {
  const options = f.options ?? Buffer.alloc(0)
  const t = Buffer.concat([Buffer.alloc(20), options, f.data ?? Buffer.alloc(0)])
  t.writeUInt16BE(sport, 0)
  t.writeUInt16BE(dport, 2)
  t.writeUInt32BE(f.seq >>> 0, 4)
  t.writeUInt32BE((f.ack ?? 0) >>> 0, 8)
  t[12] = ((20 + options.length) / 4) << 4
  t[13] = f.flags
  t.writeUInt16BE(f.window ?? 64240, 14)
  t.writeUInt16BE(checksum(pseudoHeader(ip, 6, t.length), t), 16)
  return ipPacket(ip, 6, t)
}

export const tcpSyn = (ip: Ip, sport: number, dport: number, seq = 1000) => tcp(ip, sport, dport, {seq, flags: TCP_SYN})

export function icmpv6Echo(ip: Ip, id: number, seq: number): Buffer {
  const body = Buffer.concat([Buffer.from([128, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]), Buffer.from('gwlb-v6')])
  body.writeUInt16BE(checksum(pseudoHeader(ip, 58, body.length), body), 2)
  return ipv6(ip, 58, body)
}

/** The packet as a router passes it on: TTL or hop limit one less, the IPv4 header checksum made again. */
export function forwarded(packet: Buffer): Buffer {
  const p = Buffer.from(packet)
  if (p[0]! >> 4 === 6) {
    p[7]!--
    return p
  }
  p[8]!--
  p.writeUInt16BE(0, 10)
  p.writeUInt16BE(checksum(p.subarray(0, (p[0]! & 0x0f) * 4)), 10)
  return p
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

/**
 * Matches the GENEVE datagram that carries the echo reply to the ping (id, seq), and nothing else: replies to
 * other tests' packets and ICMP errors for earlier unanswered pings may still be waiting unclaimed.
 */
export const echoReply = (id: number, seq: number) => (payload: Buffer): boolean => {
  const icmp = parseInner(payload.subarray(40))
  return icmp.protocol === 1 && icmp.payload[0] === 0 && icmp.payload.readUInt16BE(4) === id && icmp.payload.readUInt16BE(6) === seq
}
