import type {Cidr} from '../../cidr.js'
import {mergedPorts, type Action, type Policy, type PolicyRule, type PortRange} from '../../policy.js'

/**
 * The policy as nftables: a table of its own (`inet gwlb_policy`), replaced whole in one `nft -f` transaction
 * (packets see the old rules or the new, never none; conntrack, and so every established flow, is untouched),
 * and apart from gwlb's table, which changes with every tunnel: a 10,000-block list is not loaded again then.
 *
 * Its forward chain runs just before gwlb's own (priority filter - 5) and judges what the tunnels bring
 * (iifname gwi-*), in the flow's original direction; replies of a flow that was let through pass. Destination
 * lists are interval sets: one lookup per packet, whatever their size. Each rule has two named counters: every
 * packet it decided (`rN`) and the flows it decided, by their first packet (`rN_new`).
 */
export const POLICY_TABLE = 'gwlb_policy'

/** The counters' object names: rule i's, the default's, and the engine's (flows left to its domain rules). */
export const counterName = (i: number | 'default' | 'engine') => (i === 'default' ? 'dflt' : i === 'engine' ? 'eng' : `r${i}`)

const portsText = (ports: PortRange[]) => `{ ${ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)).join(', ')} }`

function protocolMatch(r: PolicyRule): string {
  if (r.protocol === 'icmp') return 'meta l4proto { icmp, ipv6-icmp }'
  if (r.protocol === 'any') return ''
  return `meta l4proto ${r.protocol}${r.ports ? ` th dport ${portsText(r.ports)}` : ''}`
}

function set(name: string, family: 4 | 6, blocks: Cidr[]): string[] {
  if (!blocks.length) return []
  // auto-merge: blocks inside others (a feed's list often has them) are one interval, not a conflict.
  return [`\tset ${name} {`, `\t\ttype ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}; flags interval; auto-merge;`, `\t\telements = { ${blocks.map((b) => b.text).join(', ')} }`, '\t}']
}

const verdict = (action: Action) => (action === 'allow' ? 'accept' : 'drop')

/** The chain a matching packet goes to: its counters, then the rule's verdict. */
function verdictChain(name: string, action: Action): string[] {
  return [`\tcounter ${name} {}`, `\tcounter ${name}_new {}`, `\tchain ${name} {`, `\t\tct state new counter name "${name}_new"`, `\t\tcounter name "${name}" ${verdict(action)}`, '\t}']
}

/** How packets reach rule i's verdict: one line per family of its destinations (or one for any destination). */
function matchLines(r: PolicyRule, i: number): string[] {
  if (r.domains) return []
  const name = counterName(i)
  const proto = protocolMatch(r)
  const tail = `${proto ? `${proto} ` : ''}goto ${name}`
  if (!r.destinations) return [tail]
  const lines = []
  if (r.destinations.some((d) => d.family === 4)) lines.push(`ip daddr @${name}_v4 ${tail}`)
  if (r.destinations.some((d) => d.family === 6)) lines.push(`ip6 daddr @${name}_v6 ${tail}`)
  return lines
}

/** The `nft -f` input that puts this policy in place of whatever policy table there is. */
export function renderPolicy(policy: Policy): string {
  const body: string[] = []
  for (const [i, r] of policy.rules.entries()) {
    const name = counterName(i)
    body.push(...set(`${name}_v4`, 4, r.destinations?.filter((d) => d.family === 4) ?? []), ...set(`${name}_v6`, 6, r.destinations?.filter((d) => d.family === 6) ?? []))
    body.push(...verdictChain(name, r.action))
  }
  body.push(...verdictChain(counterName('default'), policy.default))
  // What no address rule decided, on a domain rule's ports, passes here: the engine (ips) decides by its name.
  const domainPorts = policy.rules.filter((r) => r.domains).flatMap((r) => r.ports ?? [])
  if (domainPorts.length) body.push(...verdictChain(counterName('engine'), 'allow'))
  body.push(
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter - 5; policy accept;',
    '\t\tiifname != "gwi-*" accept',
    '\t\tct direction reply accept',
    ...policy.rules.flatMap(matchLines).map((l) => `\t\t${l}`),
    ...(domainPorts.length ? [`\t\tmeta l4proto tcp th dport ${portsText(mergedPorts(domainPorts))} goto ${counterName('engine')}`] : []),
    `\t\tgoto ${counterName('default')}`,
    '\t}',
  )
  // Declaring the table first makes its delete succeed when there is none yet; all one transaction.
  return `table inet ${POLICY_TABLE}\ndelete table inet ${POLICY_TABLE}\ntable inet ${POLICY_TABLE} {\n${body.join('\n')}\n}\n`
}

export interface RuleCounters {
  name: string
  /** engine: flows the kernel left to the inspection engine's domain rules. */
  action: Action | 'engine'
  /** Packets it decided. */
  packets: number
  bytes: number
  /** Flows it decided, by their first packet (a dropped flow's retransmitted first packet counts again). */
  flows: number
}

interface NftCounter {
  counter?: {name: string; packets: number; bytes: number}
}

/** Per rule (and last, the default), from `nft -j list counters table inet gwlb_policy`. */
export function ruleCounters(policy: Policy, json: string): RuleCounters[] {
  const byName = new Map<string, {packets: number; bytes: number}>()
  for (const item of (JSON.parse(json) as {nftables: NftCounter[]}).nftables) if (item.counter) byName.set(item.counter.name, item.counter)
  const rows: {name: string; action: RuleCounters['action']; id: string}[] = [
    ...policy.rules.flatMap((r, i) => (r.domains ? [] : [{name: r.name, action: r.action, id: counterName(i)}])),
    ...(policy.rules.some((r) => r.domains) ? [{name: 'engine', action: 'engine' as const, id: counterName('engine')}] : []),
    {name: 'default', action: policy.default, id: counterName('default')},
  ]
  return rows.map(({name, action, id}) => ({
    name, action, packets: byName.get(id)?.packets ?? 0, bytes: byName.get(id)?.bytes ?? 0, flows: byName.get(`${id}_new`)?.packets ?? 0,
  }))
}
