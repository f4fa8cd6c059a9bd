/** gwlbtun's naming of the tunnel interfaces and hook arguments, which its users' scripts rely on. */

const BASE60 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX'

/** The 64-bit ENI id in base 60, most significant digit first (at most 11 characters). */
export function base60(eni: bigint): string {
  let digits = ''
  let rest = eni
  do {
    digits = BASE60[Number(rest % 60n)] + digits
    rest /= 60n
  } while (rest > 0n)
  return digits
}

export interface TunnelNames {
  /** Packets from the GWLB come out of this interface. */
  ingress: string
  /** Packets routed into this interface go back to the GWLB. */
  egress: string
  /** The ENI id as C's `%017x` prints it, so that `eni-<this>` is the endpoint's ENI id as AWS writes it. */
  eniHex: string
}

export function tunnelNames(eniHigh: number, eniLow: number): TunnelNames {
  const eni = (BigInt(eniHigh) << 32n) | BigInt(eniLow)
  const x = base60(eni)
  return {ingress: `gwi-${x}`, egress: `gwo-${x}`, eniHex: eni.toString(16).padStart(17, '0')}
}

/**
 * Why a name cannot be a Linux interface's, if it cannot: the kernel's rule (1-15 bytes, not . or .., no `/`,
 * `:` or white space), and nothing that could break out of an nft string or a sysctl path (quotes, `\`).
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '' || Buffer.byteLength(name) > 15) return 'an interface name has 1 to 15 bytes'
  if (name === '.' || name === '..') return 'not an interface name'
  if (/[/:\s"'\\]|[^\x21-\x7e]/.test(name)) return 'an interface name has no /, :, spaces, quotes or control characters'
  return undefined
}
