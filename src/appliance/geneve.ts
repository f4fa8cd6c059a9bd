/**
 * GENEVE (RFC 8926) as AWS Gateway Load Balancer sends it: a base header, then options of class 0x0108
 * carrying the GWLB endpoint's ENI id (type 1), the attachment id (type 2) and the flow cookie (type 3),
 * then an IPv4 or IPv6 packet. Pure code, no I/O; the decoder fills a reusable record so that the hot path
 * allocates nothing, and reports why it refused a datagram instead of throwing.
 */

import {AWS_ATTACHMENT_TYPE, AWS_COOKIE_TYPE, AWS_ENI_TYPE, AWS_OPTION_CLASS} from '../generated/abi.js'

export const BASE_HEADER_LENGTH = 8
export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_IPV6 = 0x86dd

const CRITICAL = 0x80

/** Why a datagram was dropped; the health/metrics counters are keyed by these. */
export const DECODER_DROP_REASONS = [
  'empty',
  'truncated',
  'bad-version',
  'options-overrun',
  'option-overrun',
  'missing-aws-option',
  'unknown-critical-option',
  'unsupported-protocol',
  'inner-truncated',
] as const
export type DropReason = (typeof DECODER_DROP_REASONS)[number]

/** What the decoder found; one instance is reused for every packet. */
export class GenevePacket {
  /** Bytes of base header plus options: what the return path must send back unchanged. */
  headerLength = 0
  protocolType = 0
  vni = 0
  /** ENI id of the GWLB endpoint, as two 32-bit halves (a 64-bit id does not fit a JS number). */
  eniHigh = 0
  eniLow = 0
  attachmentHigh = 0
  attachmentLow = 0
  flowCookie = 0
  /** Offset (from the start of the buffer) and length of the inner IP packet. */
  innerOffset = 0
  innerLength = 0

  get eniHex(): string {
    return hex64(this.eniHigh, this.eniLow)
  }

  get attachmentHex(): string {
    return hex64(this.attachmentHigh, this.attachmentLow)
  }
}

export function hex64(high: number, low: number): string {
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0')
}

/**
 * Decodes the GENEVE datagram at buf[offset, offset+length) into `out`. Returns null when the packet is good,
 * otherwise the reason to drop it. Never throws on any input.
 */
export function decodeGeneve(buf: Uint8Array, offset: number, length: number, out: GenevePacket): DropReason | null {
  if (length <= 0) return 'empty'
  if (length < BASE_HEADER_LENGTH) return 'truncated'
  const b0 = buf[offset]!
  if (b0 >> 6 !== 0) return 'bad-version'
  const headerLength = BASE_HEADER_LENGTH + (b0 & 0x3f) * 4
  if (headerLength > length) return 'options-overrun'
  const protocolType = (buf[offset + 2]! << 8) | buf[offset + 3]!
  let seen = 0
  for (let p = offset + BASE_HEADER_LENGTH, end = offset + headerLength; p < end; ) {
    if (p + 4 > end) return 'option-overrun'
    const optionClass = (buf[p]! << 8) | buf[p + 1]!
    const type = buf[p + 2]!
    const dataLength = (buf[p + 3]! & 0x1f) * 4
    const data = p + 4
    if (data + dataLength > end) return 'option-overrun'
    if (optionClass === AWS_OPTION_CLASS && type === AWS_ENI_TYPE && dataLength === 8) {
      out.eniHigh = readU32(buf, data)
      out.eniLow = readU32(buf, data + 4)
      seen |= 1
    } else if (optionClass === AWS_OPTION_CLASS && type === AWS_ATTACHMENT_TYPE && dataLength === 8) {
      out.attachmentHigh = readU32(buf, data)
      out.attachmentLow = readU32(buf, data + 4)
      seen |= 2
    } else if (optionClass === AWS_OPTION_CLASS && type === AWS_COOKIE_TYPE && dataLength === 4) {
      out.flowCookie = readU32(buf, data)
      seen |= 4
    } else if (type & CRITICAL) {
      return 'unknown-critical-option'
    }
    p = data + dataLength
  }
  if (seen !== 7) return 'missing-aws-option'
  const inner = offset + headerLength
  const innerAvailable = length - headerLength
  let innerLength: number
  if (protocolType === ETHERTYPE_IPV4) innerLength = ipv4Length(buf, inner, innerAvailable)
  else if (protocolType === ETHERTYPE_IPV6) innerLength = ipv6Length(buf, inner, innerAvailable)
  else return 'unsupported-protocol'
  if (innerLength < 0) return 'inner-truncated'
  out.headerLength = headerLength
  out.protocolType = protocolType
  out.vni = (buf[offset + 4]! << 16) | (buf[offset + 5]! << 8) | buf[offset + 6]!
  out.innerOffset = inner
  out.innerLength = innerLength
  return null
}

/** The IPv4 packet's total length if the header is whole and the packet fits, else -1. */
function ipv4Length(buf: Uint8Array, p: number, available: number): number {
  if (available < 20 || buf[p]! >> 4 !== 4) return -1
  const ihl = (buf[p]! & 0x0f) * 4
  const total = (buf[p + 2]! << 8) | buf[p + 3]!
  return ihl < 20 || total < ihl || total > available ? -1 : total
}

/** The IPv6 packet's length (fixed header plus payload) if it fits, else -1. */
function ipv6Length(buf: Uint8Array, p: number, available: number): number {
  if (available < 40 || buf[p]! >> 4 !== 6) return -1
  const total = 40 + ((buf[p + 4]! << 8) | buf[p + 5]!)
  return total > available ? -1 : total
}

export function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0
}

/** Length of the outer IPv4 + UDP headers the return path puts in front of the GENEVE header. */
export const OUTER_HEADER_LENGTH = 28

/**
 * Writes the outer IPv4 and UDP headers that carry a GENEVE packet of `genevePacketLength` bytes back to the
 * GWLB node, at buf[offset]. The kernel fills in the IP checksum (raw sockets always do); UDP checksum 0 is
 * legal over IPv4.
 */
export function writeOuterHeaders(
  buf: Uint8Array,
  offset: number,
  genevePacketLength: number,
  source: number,
  destination: number,
  sourcePort: number,
  destinationPort: number,
): void {
  const total = OUTER_HEADER_LENGTH + genevePacketLength
  buf[offset] = 0x45
  buf[offset + 1] = 0
  buf[offset + 2] = total >>> 8
  buf[offset + 3] = total & 0xff
  buf[offset + 4] = 0 // identification: the kernel picks one
  buf[offset + 5] = 0
  buf[offset + 6] = 0x40 // don't fragment: GWLB drops what it cannot carry anyway
  buf[offset + 7] = 0
  buf[offset + 8] = 64 // TTL
  buf[offset + 9] = 17 // UDP
  buf[offset + 10] = 0
  buf[offset + 11] = 0
  writeU32(buf, offset + 12, source)
  writeU32(buf, offset + 16, destination)
  const udp = offset + 20
  const udpLength = 8 + genevePacketLength
  buf[udp] = sourcePort >>> 8
  buf[udp + 1] = sourcePort & 0xff
  buf[udp + 2] = destinationPort >>> 8
  buf[udp + 3] = destinationPort & 0xff
  buf[udp + 4] = udpLength >>> 8
  buf[udp + 5] = udpLength & 0xff
  buf[udp + 6] = 0
  buf[udp + 7] = 0
}

export function writeU32(buf: Uint8Array, p: number, value: number): void {
  buf[p] = value >>> 24
  buf[p + 1] = (value >>> 16) & 0xff
  buf[p + 2] = (value >>> 8) & 0xff
  buf[p + 3] = value & 0xff
}

/** The AWS options GWLB puts on every packet it sends: which endpoint, which attachment, which flow. */
export interface AwsOptions {
  /** 16 hex digits each. */
  eni: string
  attachment: string
  flowCookie: number
}

/** Base header plus the three AWS options: what GWLB puts in front of each inner packet. */
export const AWS_HEADER_LENGTH = BASE_HEADER_LENGTH + 3 * 4 + 8 + 8 + 4

/** Writes a GENEVE header as GWLB makes it (VNI 0, the AWS options) at buf[offset]; the inner packet follows. */
export function writeGwlbHeader(buf: Uint8Array, offset: number, protocolType: number, o: AwsOptions): void {
  buf[offset] = (AWS_HEADER_LENGTH - BASE_HEADER_LENGTH) / 4
  buf[offset + 1] = 0
  buf[offset + 2] = protocolType >>> 8
  buf[offset + 3] = protocolType & 0xff
  writeU32(buf, offset + 4, 0)
  let p = offset + BASE_HEADER_LENGTH
  const option = (type: number, words: number[]) => {
    buf[p] = AWS_OPTION_CLASS >>> 8
    buf[p + 1] = AWS_OPTION_CLASS & 0xff
    buf[p + 2] = type
    buf[p + 3] = words.length
    for (const [i, word] of words.entries()) writeU32(buf, p + 4 + i * 4, word)
    p += 4 + words.length * 4
  }
  const halves = (hex: string) => [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)]
  option(AWS_ENI_TYPE, halves(o.eni))
  option(AWS_ATTACHMENT_TYPE, halves(o.attachment))
  option(AWS_COOKIE_TYPE, [o.flowCookie])
}
