/**
 * The key under which the return path finds a flow's GENEVE header: the inner packet's protocol, addresses
 * and (for TCP, UDP, SCTP, UDP-Lite) ports, ordered so that a reply gives the same key as its request.
 * Other protocols (ICMP among them) and non-first fragments are keyed by protocol and addresses only.
 */

const PORT_PROTOCOLS = new Set([6, 17, 132, 136])

/** Returns the flow key of the IP packet at buf[p, p+length), or null if it is not a whole IPv4/IPv6 header. */
export function flowKey(buf: Uint8Array, p: number, length: number): string | null {
  if (length < 1) return null
  const version = buf[p]! >> 4
  if (version === 4) {
    if (length < 20) return null
    const ihl = (buf[p]! & 0x0f) * 4
    const protocol = buf[p + 9]!
    const firstFragment = (((buf[p + 6]! & 0x1f) << 8) | buf[p + 7]!) === 0
    const ports = firstFragment && PORT_PROTOCOLS.has(protocol) && length >= ihl + 4 ? p + ihl : -1
    return key(buf, protocol, p + 12, p + 16, 4, ports)
  }
  if (version === 6) {
    if (length < 40) return null
    const protocol = buf[p + 6]!
    const ports = PORT_PROTOCOLS.has(protocol) && length >= 44 ? p + 40 : -1
    return key(buf, protocol, p + 8, p + 24, 16, ports)
  }
  return null
}

function key(buf: Uint8Array, protocol: number, src: number, dst: number, size: number, ports: number): string {
  const a = endpoint(buf, src, size, ports)
  const b = endpoint(buf, dst, size, ports < 0 ? -1 : ports + 2)
  return a < b ? `${protocol}|${a}|${b}` : `${protocol}|${b}|${a}`
}

function endpoint(buf: Uint8Array, address: number, size: number, port: number): string {
  let s = ''
  for (let i = 0; i < size; i++) s += String.fromCharCode(buf[address + i]!)
  return port < 0 ? s : s + String.fromCharCode(buf[port]!, buf[port + 1]!)
}
