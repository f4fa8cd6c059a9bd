/**
 * The appliance's modes: the one place that names them. init (spec, wizard, checks, user data) and the
 * appliance (flags, rules, host changes) take a `Mode` and ask its definition what it needs; a new mode is an
 * entry here, and TypeScript finds every place that must learn it.
 */
interface ModeDefinition {
  /** For --help and the wizard. */
  description: string
  /**
   * Decapsulated packets leave through the instance's own interface, masqueraded, and their replies return to
   * the GWLB by connection mark. Needs an egress interface, the source/destination check off, and NAT gateways
   * for a fixed address. Otherwise every packet goes back out of its tunnel through the kernel.
   */
  natEgress: boolean
}

export const MODES = {
  'two-arm': {description: 'NAT egress through NAT gateways with fixed Elastic IPs', natEgress: true},
  'one-arm': {description: 'inspect and return through the GWLB', natEgress: false},
} as const satisfies Record<string, ModeDefinition>

export type Mode = keyof typeof MODES

export const MODE_NAMES = Object.keys(MODES) as Mode[]
export const DEFAULT_MODE: Mode = MODE_NAMES[0]!

export const natEgress = (mode: Mode): boolean => MODES[mode].natEgress
