import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {checkPolicy, EXAMPLE_FILE, problemLine, type Policy} from '../../src/policy.js'
import {renderPolicy, ruleCounters} from '../../src/appliance/policy/nft.js'
import {engineRules} from '../../src/appliance/policy/suricata.js'

const policyOf = (yaml: string): Policy => {
  const {policy, problems} = checkPolicy(yaml)
  if (!policy) throw new Error(problems.map((p) => problemLine('p.yaml', p)).join('\n'))
  return policy
}
/** The problems of a document, as `policy check` prints them. */
const linesOf = (yaml: string) => checkPolicy(yaml).problems.map((p) => problemLine('p.yaml', p))

describe('the egress policy file: what check accepts, and what it says of the rest', () => {
  it('the example gwlb prints checks with no problem at all', () => {
    const {policy, problems} = checkPolicy(readFileSync(EXAMPLE_FILE, 'utf8'))
    expect(problems).toEqual([])
    expect(policy?.rules.map((r) => `${r.action} ${r.name}`)).toEqual(['allow dns', 'allow dns-tcp', 'deny no-metadata', 'allow ping', 'allow web'])
  })

  it('reads JSON as well as YAML; a rule without a name is named by its place', () => {
    const policy = policyOf('{"version": 1, "default": "allow", "rules": [{"action": "deny", "destinations": ["192.0.2.0/24", "2001:db8::/32"]}]}')
    expect(policy.rules[0]).toMatchObject({name: 'rules[0]', path: 'rules[0]', protocol: 'any', destinations: [{family: 4}, {family: 6}]})
    expect(policy.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('names each value that is wrong by its path and line: a bad block, host bits, a port range, ports without tcp/udp', () => {
    expect(linesOf(`version: 1
default: deny
rules:
  - action: deny
    destinations: [10.0.0.1/8, nope]
  - action: allow
    protocol: tcp
    ports: [80, "90-85"]
  - action: allow
    protocol: icmp
    ports: [5]
`)).toEqual([
      'p.yaml:5: rules[0].destinations[0]: 10.0.0.1/8 has host bits set: the block is 10.0.0.0/8',
      'p.yaml:5: rules[0].destinations[1]: nope is not a CIDR block (ADDRESS/PREFIX, e.g. 10.0.0.0/16 or 2001:db8::/32)',
      'p.yaml:8: rules[1].ports[1]: 90-85 is not a port range: FROM-TO with 1 ≤ FROM ≤ TO ≤ 65535',
      'p.yaml:11: rules[2].ports: ports need protocol tcp or udp (this rule\'s is icmp)',
    ])
  })

  it('says what the schema refuses: an unknown key, a missing action, a port out of range, another version', () => {
    expect(linesOf(`version: 2
default: deny
rules:
  - protokol: tcp
    action: allow
  - ports: [70000]
    protocol: tcp
`)).toEqual([
      'p.yaml:1: version: must be 1',
      'p.yaml:4: rules[0]: unknown key "protokol"',
      'p.yaml:6: rules[1]: "action" is missing',
      'p.yaml:6: rules[1].ports[0]: must be a port (1-65535) or a range "FROM-TO"',
    ])
  })

  it('refuses what is not YAML at all, naming the line', () => {
    expect(linesOf('version: 1\ndefault: deny: x\nrules: []\n')).toEqual(['p.yaml:2: not YAML or JSON: Nested mappings are not allowed in compact mappings'])
  })

  it("refuses two rules of one name, and the names of gwlb's own counters", () => {
    expect(linesOf(`version: 1
default: deny
rules:
  - {name: web, action: allow, protocol: tcp, ports: [80]}
  - {name: web, action: allow, protocol: tcp, ports: [443]}
  - {name: default, action: deny, protocol: udp}
`)).toEqual([
      'p.yaml:5: rules[1].name: web names rules[0] already: names label the counters, so each is one rule\'s',
      'p.yaml:6: rules[2].name: default is the name of gwlb\'s own counters (default, engine): give the rule another',
    ])
  })

  it('finds a rule that an earlier one leaves nothing to: an error with another action, a warning with the same', () => {
    expect(linesOf(`version: 1
default: deny
rules:
  - {name: corp, action: allow, destinations: [10.0.0.0/9, 10.128.0.0/9]}
  - {name: lab-ssh, action: deny, destinations: [10.3.0.0/16], protocol: tcp, ports: [22]}
  - {name: web, action: allow, protocol: tcp, ports: ["1-1024"]}
  - {name: web-again, action: allow, protocol: tcp, ports: [443], destinations: [192.0.2.0/24]}
  - {name: udp-53, action: allow, protocol: udp, ports: [53]}
`)).toEqual([
      // 10.0.0.0/9 and 10.128.0.0/9 together cover 10.3.0.0/16: the union counts, not one block.
      'p.yaml:5: rules[1]: never matches: rules[0] (corp) before it allows all the traffic this rule would deny (move it above, or narrow the earlier rule)',
      'p.yaml:7: warning: rules[3]: never matches: rules[2] (web) before it already allows all of its traffic (remove it)',
    ])
  })

  it('a narrower rule before a wider one shadows nothing; neither does another protocol, or ports beyond the earlier range', () => {
    expect(linesOf(`version: 1
default: allow
rules:
  - {action: deny, destinations: [10.3.0.0/16], protocol: tcp, ports: [22]}
  - {action: allow, destinations: [10.0.0.0/8]}
  - {action: deny, protocol: tcp, ports: ["1-1024"]}
  - {action: allow, protocol: udp, ports: ["1-1024"]}
  - {action: allow, protocol: tcp, ports: ["1000-2000"]}
`)).toEqual([])
  })

  it('warns of blocks inside others of the same rule (applied merged), at most five lines of them', () => {
    const blocks = ['10.0.0.0/8', ...Array.from({length: 8}, (_, i) => `10.${i}.0.0/16`)]
    const lines = linesOf(`version: 1\ndefault: allow\nrules:\n  - {action: deny, destinations: [${blocks.join(', ')}]}\n`)
    expect(lines).toHaveLength(6)
    expect(lines[0]).toBe('p.yaml:4: warning: rules[0].destinations[1]: 10.0.0.0/16 lies within 10.0.0.0/8 (destinations[0])')
    expect(lines[5]).toBe('p.yaml:4: warning: rules[0].destinations: 3 more blocks lie within others of this rule')
    expect(checkPolicy(`version: 1\ndefault: allow\nrules:\n  - {action: deny, destinations: [${blocks.join(', ')}]}\n`).policy).toBeDefined()
  })

  it('checks a 10,000-block list whole', () => {
    const blocks = Array.from({length: 10_000}, (_, i) => `10.${i >> 8}.${i & 255}.0/24`)
    const policy = policyOf(`version: 1\ndefault: allow\nrules:\n  - {name: feed, action: deny, destinations: [${blocks.join(', ')}]}\n`)
    expect(policy.rules[0]!.destinations).toHaveLength(10_000)
  })
})

describe('the policy as nftables', () => {
  const policy = policyOf(`version: 1
default: deny
rules:
  - {name: feed, action: deny, destinations: [192.0.2.0/24, 2001:db8::/32]}
  - {name: web, action: allow, protocol: tcp, ports: [80, "8000-8100"]}
  - {name: ping, action: allow, protocol: icmp}
`)
  const ruleset = renderPolicy(policy)

  it('replaces its own table in one transaction, and judges only what the tunnels bring, in the original direction', () => {
    expect(ruleset.startsWith('table inet gwlb_policy\ndelete table inet gwlb_policy\ntable inet gwlb_policy {\n')).toBe(true)
    expect(ruleset).toMatch(/type filter hook forward priority filter - 5; policy accept;\n\t\tiifname != "gwi-\*" accept\n\t\tct direction reply accept\n/)
  })

  it('looks destinations up in an interval set per family, then goes to the rule\'s counters and verdict; the default last', () => {
    expect(ruleset).toContain('set r0_v4 {\n\t\ttype ipv4_addr; flags interval; auto-merge;\n\t\telements = { 192.0.2.0/24 }')
    expect(ruleset).toContain('set r0_v6 {\n\t\ttype ipv6_addr; flags interval; auto-merge;\n\t\telements = { 2001:db8::/32 }')
    const forward = ruleset.slice(ruleset.indexOf('chain forward'))
    expect(forward.split('\n').slice(4, 9).map((l) => l.trim())).toEqual([
      'ip daddr @r0_v4 goto r0',
      'ip6 daddr @r0_v6 goto r0',
      'meta l4proto tcp th dport { 80, 8000-8100 } goto r1',
      'meta l4proto { icmp, ipv6-icmp } goto r2',
      'goto dflt',
    ])
    expect(ruleset).toContain('chain r0 {\n\t\tct state new counter name "r0_new"\n\t\tcounter name "r0" drop\n\t}')
    expect(ruleset).toContain('chain dflt {\n\t\tct state new counter name "dflt_new"\n\t\tcounter name "dflt" drop\n\t}')
  })

  it('reads the counters back per rule by name, the default last', () => {
    const json = JSON.stringify({nftables: [{metainfo: {}}, {counter: {name: 'r1', packets: 12, bytes: 900}}, {counter: {name: 'r1_new', packets: 2, bytes: 120}}, {counter: {name: 'dflt', packets: 3, bytes: 180}}]})
    expect(ruleCounters(policy, json)).toEqual([
      {name: 'feed', action: 'deny', packets: 0, bytes: 0, flows: 0},
      {name: 'web', action: 'allow', packets: 12, bytes: 900, flows: 2},
      {name: 'ping', action: 'allow', packets: 0, bytes: 0, flows: 0},
      {name: 'default', action: 'deny', packets: 3, bytes: 180, flows: 0},
    ])
  })
})

describe('domain rules', () => {
  const DOMAINS = `version: 1
default: deny
rules:
  - {name: web, action: allow, destinations: [192.0.2.0/24], protocol: tcp, ports: [443]}
  - {name: evil, action: deny, domains: [evil.example.test]}
  - {name: example, action: allow, domains: [.example.test, Www.Other.Test]}
`

  it('come after every address rule, over tcp, with destinations or domains but not both', () => {
    expect(linesOf(`version: 1
default: deny
rules:
  - {action: allow, domains: [.example.test]}
  - {action: allow, protocol: udp, ports: [53]}
  - {action: deny, domains: [a.test], protocol: udp}
  - {action: deny, domains: [b.test], destinations: [10.0.0.0/8]}
`)).toEqual([
      'p.yaml:6: rules[2].protocol: domains are read from TLS and HTTP, over tcp (this rule\'s protocol is udp)',
      'p.yaml:7: rules[3].domains: a rule matches destinations or domains, not both: make it two rules',
      'p.yaml:4: rules[0]: domain rules are tried after every address rule: move it below rules[1]',
    ])
  })

  it('a name an earlier pattern takes in is shadowed: .example.test takes in example.test and every name under it', () => {
    expect(linesOf(`version: 1
default: deny
rules:
  - {name: example, action: allow, domains: [.example.test]}
  - {name: evil, action: deny, domains: [evil.example.test, example.test]}
  - {name: other, action: deny, domains: [example.test.other]}
`)).toEqual(['p.yaml:5: rules[1]: never matches: rules[0] (example) before it allows all the traffic this rule would deny (move it above, or narrow the earlier rule)'])
  })

  it('the kernel leaves what no address rule decided on their ports to the engine, and counts it', () => {
    const ruleset = renderPolicy(policyOf(DOMAINS))
    expect(ruleset).toContain('\t\tmeta l4proto tcp th dport { 80, 443 } goto eng\n\t\tgoto dflt')
    expect(ruleset).toContain('chain eng {\n\t\tct state new counter name "eng_new"\n\t\tcounter name "eng" accept')
  })

  it('compile to Suricata drops that leave out what earlier rules allow, never a pass', () => {
    const rules = engineRules(policyOf(DOMAINS)).split('\n').filter((l) => l && !l.startsWith('#'))
    expect(rules.every((r) => !r.startsWith('pass'))).toBe(true)
    // What the address rule allowed is marked on its first packet and judged no further.
    expect(rules[0]).toMatch(/^alert tcp any any -> \[192\.0\.2\.0\/24\] \[443\] \(msg:"gwlb policy: web \(address\)"; flow:to_server; flowbits:set,gwlb\.policy\.address; flowbits:noalert; sid:\d+; rev:1;\)$/)
    expect(rules[1]).toContain('drop tls any any -> any [80,443] (msg:"gwlb policy: evil"; flow:to_server,established; flowbits:isnotset,gwlb.policy.address; tls.sni; dotprefix; content:".evil.example.test"; startswith; endswith; nocase;')
    expect(rules[2]).toContain('drop http any any -> any [80,443] (msg:"gwlb policy: evil";')
    // The default drops every named flow but the allowed names (lower case; the suffix and the exact name).
    expect(rules[3]).toContain('(msg:"gwlb policy: default"; flow:to_server,established; flowbits:isnotset,gwlb.policy.address; tls.sni; dotprefix; pcre:!"/(?:\\.example\\.test$|^\\.www\\.other\\.test$)/i";')
    expect(rules.slice(5).map((r) => /msg:"([^"]+)"/.exec(r)?.[1])).toEqual(['gwlb policy: unknown (TLS without SNI)', 'gwlb policy: unknown (neither TLS nor HTTP)'])
    expect(new Set(rules.map((r) => /sid:(\d+)/.exec(r)?.[1])).size).toBe(rules.length)
  })

  it('with unknown: allow, names that cannot be read pass; with no domain rule the engine gets an empty file', () => {
    expect(engineRules(policyOf(`${DOMAINS.replace('default: deny', 'default: deny\nunknown: allow')}`))).not.toMatch(/unknown/)
    expect(engineRules(policyOf('version: 1\ndefault: deny\n'))).toMatch(/^# gwlb egress policy [0-9a-f]{64}: domain rules .*\n# none\n$/)
  })
})
