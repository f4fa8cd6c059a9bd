import {UserError} from '../../errors.js'
import {natEgress, type Mode} from '../../mode.js'
import {POLICY_TABLE} from '../policy/nft.js'
import {batches, type CommandBatch} from './command-batch.js'
import {removeInspectionLeftovers, type Inspection, type InspectionRules} from './inspection.js'
import {run, SysctlChanges} from './system.js'

/**
 * The kernel side of the appliance: its own nftables table (replaced atomically with `nft -f` on every
 * change, deleted on exit; nothing else's rules are touched), policy routing per tunnel, and the sysctls
 * forwarding needs (restored on exit).
 *
 * two-arm: a packet from gwi-X is forwarded out of the egress interface, masqueraded; its connection is
 * marked with the tunnel, and the de-NATed replies carry that mark, which routes them out of gwo-X, back to
 * the GWLB. one-arm: everything from gwi-X is routed out of gwo-X, with no NAT.
 */

export interface TunnelRoute {
  /** Small positive number, unique among live tunnels; picks the mark and the routing table. */
  index: number
  ingress: string
  egress: string
}

export const TABLE_NAME = 'gwlb'
const MARK_BASE = 0x67770000
const MARK_MASK = 0xffff0000
const ROUTE_TABLE_BASE = 26000
const RULE_PRIORITY = '26000'
/** Past the tunnels' rules: where two-arm's guard sends what carries no tunnel's mark (a rule that does nothing). */
const PAST_TUNNELS = '26001'

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`
export const tunnelMark = (t: TunnelRoute) => MARK_BASE + t.index
export const routeTable = (t: TunnelRoute) => ROUTE_TABLE_BASE + t.index

const NO_INSPECTION: InspectionRules = {forward: [], tables: ''}

/** gwlb's own tables of the ip and ip6 families (the inspection hook's copies): replaced with the inet table. */
const FAMILY_TABLES = ['ip', 'ip6'] as const

/** The whole `table inet gwlb` for this mode and these tunnels (and the inspection hook's tables), as `nft -f` reads it. */
export function renderRuleset(mode: Mode, egressInterface: string, tunnels: TunnelRoute[], inspection: InspectionRules = NO_INSPECTION): string {
  const ours = `ct mark and ${hex(MARK_MASK)} == ${hex(MARK_BASE)}`
  const lines =
    natEgress(mode)
      ? [
          'chain prerouting {',
          '\ttype filter hook prerouting priority mangle; policy accept;',
          // One lookup in a map, not one rule per tunnel: each packet would be checked against every tunnel's.
          ...(tunnels.length ? [`\tct direction original ct mark set iifname map { ${tunnels.map((t) => `"${t.ingress}" : ${hex(tunnelMark(t))}`).join(', ')} }`] : []),
          `\tct direction reply ${ours} meta mark set ct mark`,
          '}',
          'chain forward {',
          '\ttype filter hook forward priority filter; policy accept;',
          ...inspection.forward.map((l) => `\t${l}`),
          `\tiifname "gwi-*" oifname "${egressInterface}" accept`,
          `\tct direction reply ${ours} oifname "gwo-*" accept`,
          '}',
          'chain postrouting {',
          '\ttype nat hook postrouting priority srcnat; policy accept;',
          `\t${ours} ct direction original oifname "${egressInterface}" masquerade`,
          '}',
        ]
      : [
          'chain forward {',
          '\ttype filter hook forward priority filter; policy accept;',
          ...inspection.forward.map((l) => `\t${l}`),
          '\tiifname "gwi-*" oifname "gwo-*" accept',
          '}',
        ]
  // The tunnel interfaces' own link-scope chatter (the MLD reports of ff02::2, all-routers, as forwarding makes
  // every interface join it) never goes into a tunnel: it is no traffic of the GWLB's (it was 4 link-local drops
  // per new tunnel pair).
  const quiet = ['chain output {', '\ttype filter hook output priority filter; policy accept;', ...['gwi-*', 'gwo-*'].map((name) => `\toifname "${name}" ip6 daddr ff02::/16 drop`), '}']
  const body = [...lines, ...quiet].map((l) => `\t${l}`).join('\n')
  // Declaring a table first makes its delete succeed when it does not exist yet; all in one transaction.
  const replaced = ['inet', ...FAMILY_TABLES].map((family) => `table ${family} ${TABLE_NAME}\ndelete table ${family} ${TABLE_NAME}\n`).join('')
  return `${replaced}table inet ${TABLE_NAME} {\n${body}\n}\n${inspection.tables}`
}

export interface RuleOptions {
  mode: Mode
  egressInterface: string
  log: (message: string) => void
  /** Told every sysctl's original value as it is first changed: kept where a later run finds it after a crash. */
  onOriginals?: (originals: Record<string, string>) => Promise<void>
  /** Where an inspection engine sees the forwarded traffic: made after what a dead run left is gone, removed with the rest. */
  inspection?: Inspection
}

/**
 * Policy rules at this tool's preferences (and the tables they look up), in both families, in one `ip -batch`
 * each (hundreds of tunnels: one process, not one per rule); returns what went.
 */
async function removeLeftovers(keepMonitor: boolean): Promise<string> {
  let rules = 0
  for (const family of ['-4', '-6']) {
    const found: {pref: string; table?: string}[] = []
    for (const pref of [RULE_PRIORITY, PAST_TUNNELS]) {
      const listed = JSON.parse(await run('ip', ['-j', family, 'rule', 'show', 'pref', pref]).catch(() => '[]') || '[]') as {table?: string}[]
      found.push(...listed.map((r) => ({pref, table: r.table})))
    }
    const tables = [...new Set(found.map((r) => Number(r.table)).filter((t) => t >= ROUTE_TABLE_BASE))]
    const commands = [...found.map((r) => `rule del pref ${r.pref}`), ...tables.map((t) => `route flush table ${t}`)]
    if (commands.length) await run('ip', [family, '-force', '-batch', '-'], commands.join('\n') + '\n').catch(() => undefined)
    rules += found.length
  }
  const tables = []
  const ours = [...['inet', ...FAMILY_TABLES].map((family) => `${family} ${TABLE_NAME}`), `inet ${POLICY_TABLE}`]
  for (const table of ours) if (await run('nft', ['delete', 'table', ...table.split(' ')]).then(() => true, () => false)) tables.push(`table ${table}`)
  const inspection = await removeInspectionLeftovers(keepMonitor)
  return [rules ? `${rules} policy rules` : '', ...tables, ...inspection].filter(Boolean).join(', ')
}

/** The same `ip` lines in both families at once: IPv4's failure is thrown, IPv6's returned (IPv4 works without it). */
async function inBothFamilies(lines: string[]): Promise<Error | undefined> {
  const family = (ip: CommandBatch) => Promise.all(lines.map((line) => ip.run(line)))
  const [v4, v6] = await Promise.allSettled([family(batches.ip4), family(batches.ip6)])
  if (v4.status === 'rejected') throw v4.reason
  return v6.status === 'rejected' ? (v6.reason as Error) : undefined
}

export class Rules {
  private readonly sysctls: SysctlChanges
  private readonly tunnels = new Map<number, TunnelRoute>()

  constructor(private readonly options: RuleOptions) {
    this.sysctls = new SysctlChanges(options.onOriginals)
  }

  /**
   * Checks for nft, removes what a dead run left (its policy rules and their tables: the preference is this
   * tool's own), enables forwarding and puts the (empty) table in place.
   */
  async start(): Promise<void> {
    try {
      await run('nft', ['--version'])
    } catch {
      throw new UserError('nft (nftables) is not installed', 'install it (apt-get install nftables), or run with --no-rules and set up forwarding in an --on-create hook')
    }
    const left = await removeLeftovers(this.keepsMonitor)
    if (left) this.options.log(`removed what a previous run left: ${left}`)
    await this.sysctls.set('net.ipv4.ip_forward', 1)
    await this.sysctls.set('net.ipv4.conf.all.rp_filter', 0)
    await this.setIpv6Forwarding()
    if (natEgress(this.options.mode)) await this.skipUnmarked()
    await this.options.inspection?.start()
    await this.apply()
  }

  /**
   * two-arm: a packet without a tunnel's mark (all but the de-NATed replies) jumps past the tunnels' rules in one
   * check, instead of being checked against each (twice: for its route and for its source's validation).
   * First at its preference, so before every tunnel's rule.
   */
  private async skipUnmarked(): Promise<void> {
    const v6 = await inBothFamilies([`rule add pref ${PAST_TUNNELS} nop`, `rule add pref ${RULE_PRIORITY} not fwmark ${hex(MARK_BASE)}/${hex(MARK_MASK)} goto ${PAST_TUNNELS}`])
    if (v6) this.options.log(`IPv6: unmarked packets are checked against every tunnel's rule (${v6.message})`)
  }

  /** Rules, routes and sysctls for a new tunnel whose interfaces are up (nothing once stopping: stop removes all). */
  async addTunnel(t: TunnelRoute): Promise<void> {
    if (this.stopping) return
    this.tunnels.set(t.index, t)
    await this.relaxReversePath(t)
    if (this.stopping) return
    const table = routeTable(t)
    try {
      const v6 = await inBothFamilies([`route replace default dev ${t.egress} table ${table}`, `rule add pref ${RULE_PRIORITY} ${this.selector(t)} lookup ${table}`])
      if (v6) this.options.log(`IPv6 routing for ${t.egress} not set up (${v6.message}); IPv4 works`)
    } catch (error) {
      // The tunnel fails: what of its routing was made goes now, not with the next start.
      this.tunnels.delete(t.index)
      await this.deleteRoutes(t)
      throw error
    }
    await this.apply()
    // systemd-networkd/udev may reset rp_filter on a new interface a few ms after it appears: check again.
    setTimeout(() => void this.relaxReversePath(t).catch(() => undefined), 250).unref()
  }

  async removeTunnel(t: TunnelRoute): Promise<void> {
    if (this.stopping) return
    this.tunnels.delete(t.index)
    await this.deleteRoutes(t)
    await this.apply()
  }

  private stopping = false

  /** From now on tunnels come and go without rule changes of their own: stop() removes them all at once. */
  windDown(): void {
    this.stopping = true
  }

  /** Removes everything this process put in place, at once: policy rules and their tables, the nft table, sysctls. */
  async stop(): Promise<void> {
    this.windDown()
    await this.applying?.catch(() => undefined)
    // A late check of a tunnel's rp_filter must not set `all` again after it is restored.
    await Promise.all([...this.relaxing].map((p) => p.catch(() => undefined)))
    this.tunnels.clear()
    this.options.inspection?.stop()
    await removeLeftovers(this.keepsMonitor)
    this.applied = undefined
    await this.sysctls.restore()
  }

  private applying?: Promise<void>
  private dirty = false
  /** The ruleset in place. */
  private applied?: string

  /**
   * Puts the table for the present tunnels in place. Calls made while one runs are folded into one more
   * run, which reads the tunnels then: under churn a few `nft -f` instead of one per tunnel, and never an
   * older ruleset written after a newer one. One-arm's table names no tunnel: its tunnels change nothing.
   */
  private apply(): Promise<void> {
    if (this.applying) {
      this.dirty = true
      return this.applying
    }
    if (this.ruleset() === this.applied) return Promise.resolve()
    this.dirty = true
    // Its first pass always waits for nft, so it is set here before its own finally clears it.
    this.applying = this.applyWhileDirty()
    return this.applying
  }

  private async applyWhileDirty(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false
        const ruleset = this.ruleset()
        if (ruleset === this.applied) continue
        await run('nft', ['-f', '-'], ruleset)
        this.applied = ruleset
      }
    } finally {
      this.applying = undefined
    }
  }

  private ruleset(): string {
    const tunnels = [...this.tunnels.values()].sort((a, b) => a.index - b.index)
    return renderRuleset(this.options.mode, this.options.egressInterface, tunnels, this.options.inspection?.rules())
  }

  private readonly relaxing = new Set<Promise<void>>()

  /** The ids monitor interface outlives a run: an engine on it keeps listening across restarts. */
  private get keepsMonitor(): boolean {
    return this.options.inspection?.mode === 'ids'
  }

  /** The kernel uses the larger of `all` and the interface's value: both must be 0 for asymmetric flows. */
  private relaxReversePath(t: TunnelRoute): Promise<void> {
    if (this.stopping) return Promise.resolve()
    const done = (async () => {
      await this.sysctls.set('net.ipv4.conf.all.rp_filter', 0)
      for (const name of [t.ingress, t.egress]) await this.sysctls.set(`net.ipv4.conf.${name}.rp_filter`, 0, {restore: false})
    })().finally(() => this.relaxing.delete(done))
    this.relaxing.add(done)
    return done
  }

  private async setIpv6Forwarding(): Promise<void> {
    try {
      // Forwarding makes the kernel ignore router advertisements unless accept_ra is 2; keep the egress
      // interface's IPv6 default route alive.
      if (natEgress(this.options.mode)) {
        const key = `net.ipv6.conf.${this.options.egressInterface}.accept_ra`
        await this.sysctls.set(key, 2)
      }
      await this.sysctls.set('net.ipv6.conf.all.forwarding', 1)
    } catch (error) {
      this.options.log(`IPv6 forwarding not enabled (${(error as Error).message}); IPv4 works`)
    }
  }

  /** What sends a packet to the tunnel's routing table: its connection's mark (NAT egress), or its ingress. */
  private selector(t: TunnelRoute): string {
    return natEgress(this.options.mode) ? `fwmark ${hex(tunnelMark(t))}` : `iif ${t.ingress}`
  }

  private async deleteRoutes(t: TunnelRoute): Promise<void> {
    const table = routeTable(t)
    const ignore = () => undefined
    await Promise.all([batches.ip4, batches.ip6].flatMap((ip) => [
      ip.run(`rule del pref ${RULE_PRIORITY} ${this.selector(t)} lookup ${table}`).catch(ignore),
      ip.run(`route flush table ${table}`).catch(ignore),
    ]))
  }
}
