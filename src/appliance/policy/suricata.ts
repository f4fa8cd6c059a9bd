import {mergedPorts, type Policy, type PortRange} from '../../policy.js'

/**
 * The domain rules as Suricata rules, for an engine in ips mode (NFQUEUE): names are read where they are sent,
 * the TLS ClientHello's SNI and the HTTP Host header, as AWS Network Firewall's domain lists do. Resolving names
 * to addresses at push time would not do: CDNs move.
 *
 * First match in file order, in an engine whose own order is by action (pass before drop): no rule passes
 * anything (a pass would end the inspection of the flow for the operator's alert rules too). Instead each drop
 * leaves out what an earlier rule allows: a denied name's rule does not match names that an earlier allow takes
 * in, and the default's drop does not match any allowed name. Flows that an address rule allowed are marked on
 * their first packet (a flowbit) and left alone. A name is compared with its dot prefixed (dotprefix), so that
 * `.example.com` takes in example.com and every name under it, and `www.example.com` that name alone.
 */
const SID_BASE = 4_270_000
const MARK = 'gwlb.policy.address'

const portList = (ports: PortRange[]) => `[${mergedPorts(ports).map((p) => (p.from === p.to ? `${p.from}` : `${p.from}:${p.to}`)).join(',')}]`

/** The buffer condition of one name pattern (on the name with its dot prefixed). */
const nameMatch = (pattern: string) =>
  pattern.startsWith('.') ? `content:"${pattern}"; endswith; nocase;` : `content:".${pattern}"; startswith; endswith; nocase;`

/**
 * The condition that the name is none of these patterns: one negated regular expression (negated content with
 * endswith does not exclude a name that is exactly the pattern, in Suricata 7).
 */
function noneOf(patterns: string[]): string {
  if (!patterns.length) return ''
  const escaped = (p: string) => p.replaceAll('.', '\\.')
  const alternatives = patterns.map((p) => (p.startsWith('.') ? `${escaped(p)}$` : `^\\.${escaped(p)}$`))
  return `pcre:!"/(?:${alternatives.join('|')})/i";`
}

/** Suricata's rule text escapes `;` and `"` in a msg; rule names carry neither (the schema's pattern). */
const msg = (what: string) => `msg:"gwlb policy: ${what}";`

export function engineRules(policy: Policy): string {
  const domainRules = policy.rules.filter((r) => r.domains)
  const lines = [`# gwlb egress policy ${policy.sha256}: domain rules (written by gwlb appliance run; replaced with every policy)`]
  if (!domainRules.length) return `${lines[0]}\n# none\n`
  let sid = SID_BASE
  const rule = (text: string) => lines.push(`${text} sid:${++sid}; rev:1;)`)
  const ports = portList(domainRules.flatMap((r) => r.ports!))
  // What an address rule allowed (only rules that can match TCP): marked on its first packet, judged no further.
  for (const r of policy.rules.filter((x) => !x.domains && x.action === 'allow' && (x.protocol === 'tcp' || x.protocol === 'any'))) {
    const to = r.destinations ? `[${r.destinations.map((d) => d.text).join(',')}]` : 'any'
    rule(`alert tcp any any -> ${to} ${r.ports ? portList(r.ports) : 'any'} (${msg(`${r.name} (address)`)} flow:to_server; flowbits:set,${MARK}; flowbits:noalert;`)
  }
  const judged = `flow:to_server,established; flowbits:isnotset,${MARK};`
  const allowedBefore = (i: number) => domainRules.slice(0, i).filter((r) => r.action === 'allow').flatMap((r) => r.domains!)
  for (const [i, r] of domainRules.entries()) {
    if (r.action !== 'deny') continue
    const exceptions = noneOf(allowedBefore(i))
    for (const d of r.domains!) {
      rule(`drop tls any any -> any ${portList(r.ports!)} (${msg(r.name)} ${judged} tls.sni; dotprefix; ${nameMatch(d)} ${exceptions}`)
      rule(`drop http any any -> any ${portList(r.ports!)} (${msg(r.name)} ${judged} http.host; dotprefix; ${nameMatch(d)} ${exceptions}`)
    }
  }
  if (policy.default === 'deny') {
    const some = noneOf(allowedBefore(domainRules.length)) || 'bsize:>0;'
    rule(`drop tls any any -> any ${ports} (${msg('default')} ${judged} tls.sni; dotprefix; ${some}`)
    rule(`drop http any any -> any ${ports} (${msg('default')} ${judged} http.host; dotprefix; ${some}`)
  }
  if (policy.unknown === 'deny') {
    // A ClientHello without SNI: its JA3 string's extension list (third field) has no 0 (server_name).
    rule(`drop tls any any -> any ${ports} (${msg('unknown (TLS without SNI)')} ${judged} ja3.string; pcre:!"/^[^,]*,[^,]*,(?:[0-9]+-)*0[-,]/";`)
    rule(`drop tcp any any -> any ${ports} (${msg('unknown (neither TLS nor HTTP)')} ${judged} app-layer-protocol:failed;`)
  }
  return `${lines.join('\n')}\n`
}
