import ipaddr from 'ipaddr.js'
import {UserError} from './errors.js'

/** A CIDR block, checked: a valid address of its family, the prefix in range, no host bits set. */
export interface Cidr {
  family: 4 | 6
  /** As the user should write it (canonical form). */
  text: string
  /** IPv4 only: network and mask as unsigned 32-bit numbers in host order. */
  network: number
  mask: number
}

/**
 * Parses CIDR notation strictly, or says what is wrong with it: `10.0.0.1/8` (host bits set),
 * `010.0.0.0/8` (not four decimal parts: inet_aton would read it as octal), `:::/0` and `1:2/64` are refused.
 */
export function parseCidr(value: string): Cidr | string {
  let address: ipaddr.IPv4 | ipaddr.IPv6
  let prefix: number
  try {
    ;[address, prefix] = ipaddr.parseCIDR(value)
  } catch {
    return `${value} is not a CIDR block (ADDRESS/PREFIX, e.g. 10.0.0.0/16 or 2001:db8::/32)`
  }
  if (address.kind() === 'ipv4') {
    if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(value)) return `${value} is not a CIDR block: write the address as four decimal numbers, e.g. 10.0.0.0/8`
    const network = ipaddr.IPv4.networkAddressFromCIDR(value)
    const text = `${network.toString()}/${prefix}`
    if (text !== value) return `${value} has host bits set: the block is ${text}`
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
    return {family: 4, text, network: toNumber(network), mask}
  }
  const network = ipaddr.IPv6.networkAddressFromCIDR(value).toString()
  const text = `${network}/${prefix}`
  if (network !== address.toString()) return `${value} has host bits set: the block is ${text}`
  return {family: 6, text, network: 0, mask: 0}
}

const toNumber = (address: ipaddr.IPv4) => address.octets.reduce((n, octet) => n * 256 + octet, 0)

/** An IPv4 address as the 32-bit number the native module and the packet writers take. */
export const ipv4Number = (address: string) => toNumber(ipaddr.IPv4.parse(address))
/** The reverse: dotted decimal of a 32-bit number. */
export const ipv4Text = (n: number) => ipaddr.fromByteArray([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString()

/**
 * IPv4 blocks as [network, mask] pairs, for a quick test of an address in host order (per packet, in the
 * data-plane workers, which get the pairs: structured-cloneable, unlike this class).
 */
export class Ipv4Blocks {
  constructor(readonly blocks: Uint32Array) {}

  static of(cidrs: Cidr[]): Ipv4Blocks {
    return new Ipv4Blocks(new Uint32Array(cidrs.flatMap((c) => [c.network, c.mask])))
  }

  has(address: number): boolean {
    const b = this.blocks
    for (let i = 0; i < b.length; i += 2) if (((address & b[i + 1]!) >>> 0) === b[i]) return true
    return false
  }

  /** The same test for an address in text (IPv4, or IPv4-mapped IPv6 as Node reports peers on dual-stack sockets). */
  hasText(address: string): boolean {
    if (!ipaddr.isValid(address)) return false
    const parsed = ipaddr.process(address)
    return parsed.kind() === 'ipv4' && this.has(toNumber(parsed as ipaddr.IPv4))
  }
}

/** 127.0.0.0/8 and ::1, also as Node reports them on a dual-stack socket (::ffff:127.0.0.1). */
export function isLoopback(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'loopback'
}

/** `any`, or IPv4 blocks separated by commas (GENEVE comes over IPv4 only); a usage error says what is wrong. */
export function parseSources(value: string, flag: string): Cidr[] | 'any' {
  if (value === 'any') return 'any'
  return value.split(',').map((text) => {
    const cidr = parseCidr(text.trim())
    if (typeof cidr === 'string') throw new UserError(`${flag} ${value}: ${cidr}`, `write IPv4 blocks separated by commas, e.g. ${flag} 10.0.0.0/24,10.0.1.0/24 (or any)`, 'usage')
    if (cidr.family !== 4) throw new UserError(`${flag} ${value}: ${cidr.text} is IPv6, and the GWLB sends GENEVE over IPv4`, `give the appliance subnets' IPv4 blocks`, 'usage')
    return cidr
  })
}

/** `ADDRESS:PORT` (`[ADDRESS]:PORT` for IPv6) to listen on, or `off`. */
export function parseListen(value: string, flag: string): {host: string; port: number} | undefined {
  if (value === 'off') return undefined
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (!host || !ipaddr.isValid(host) || !(port >= 1 && port <= 65535))
    throw new UserError(`${flag} ${value} is not ADDRESS:PORT`, `e.g. ${flag} 127.0.0.1:9641, ${flag} [::1]:9641 or ${flag} off`, 'usage')
  return {host, port}
}
