/** TCP, UDP, SCTP and UDP-Lite: the protocols whose first four bytes are the source and destination ports. */
const PORT_PROTOCOLS = new Set([6, 17, 132, 136])

/**
 * Where the ports of the IPv4 or IPv6 packet at b[p, p+length) start, or -1: a protocol without ports, a later
 * fragment, or too short. Both the appliance's flow table (per packet, so no allocation) and the lab's
 * stand-in key flows by them.
 */
export function portsOffset(b: Uint8Array, p: number, length: number): number {
  const version = length > 0 ? b[p]! >> 4 : 0
  if (version === 4 && length >= 20) {
    const ihl = (b[p]! & 0x0f) * 4
    const firstFragment = (((b[p + 6]! & 0x1f) << 8) | b[p + 7]!) === 0
    return firstFragment && PORT_PROTOCOLS.has(b[p + 9]!) && length >= ihl + 4 ? p + ihl : -1
  }
  return version === 6 && length >= 44 && PORT_PROTOCOLS.has(b[p + 6]!) ? p + 40 : -1
}
