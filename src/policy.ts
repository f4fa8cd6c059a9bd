import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {Ajv, type ErrorObject} from 'ajv'
import ipaddr from 'ipaddr.js'
import {LineCounter, parseDocument} from 'yaml'
import {parseCidr, type Cidr} from './cidr.js'
import {UserError} from './errors.js'

/**
 * The egress policy language, shared by what pushes it (gwlb policy, the lab) and what enforces it (the appliance):
 * a YAML (or JSON) file of the documented schema (assets/policy.schema.json), checked here
 * into rules the appliance compiles to nftables. First match wins, in file order; `default` for the rest.
 */
export type Action = 'allow' | 'deny'
export type Protocol = 'tcp' | 'udp' | 'icmp' | 'any'

export const SCHEMA_FILE = new URL('../assets/policy.schema.json', import.meta.url)
export const EXAMPLE_FILE = new URL('../assets/policy.example.yaml', import.meta.url)

export interface PortRange {
  from: number
  to: number
}

/** An address range of one family, ends included (to compare blocks of any size). */
interface Span {
  family: 4 | 6
  start: bigint
  end: bigint
}

export interface PolicyRule {
  /** As given, else its place (`rules[3]`): the label of its counters. */
  name: string
  /** Where it is in the file: `rules[3]`. */
  path: string
  action: Action
  protocol: Protocol
  /** Absent: any destination. */
  destinations?: Cidr[]
  /** Absent: any port. */
  ports?: PortRange[]
  /** Names (lower case) matched on TLS SNI and HTTP Host by the engine: `.example.com` is it and every name under it. */
  domains?: string[]
}

/** Counters of gwlb's own beside the rules': what no rule matched, and what was left to the engine. */
const RESERVED_NAMES = ['default', 'engine']

/** The ports of a domain rule that gives none: HTTP and HTTPS. */
export const DOMAIN_PORTS: readonly PortRange[] = [{from: 80, to: 80}, {from: 443, to: 443}]

export interface Policy {
  default: Action
  /** Flows on a domain rule's ports whose name cannot be read (TLS without SNI, neither TLS nor HTTP). */
  unknown: Action
  rules: PolicyRule[]
  /** SHA-256 of the file's bytes: the version an appliance runs. */
  sha256: string
}

export interface Problem {
  /** The file's line, where known. */
  line?: number
  /** Where in the document: `rules[2].ports[0]`, or empty for the whole of it. */
  path: string
  message: string
  /** error: the policy is refused; warning: it applies, but says something the author probably did not mean. */
  severity: 'error' | 'warning'
}

interface RawRule {
  name?: string
  action: Action
  destinations?: string[]
  domains?: string[]
  protocol?: Protocol
  ports?: (number | string)[]
}

interface RawPolicy {
  version: 1
  default: Action
  unknown?: Action
  rules?: RawRule[]
}

const validate = new Ajv({allErrors: true}).compile<RawPolicy>(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')))

/** `/rules/2/ports/0` → `rules[2].ports[0]`. */
const pathText = (segments: (string | number)[]) =>
  segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')

/** One schema error as a sentence about its place. */
function schemaMessage(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown key ${JSON.stringify((e.params as {additionalProperty: string}).additionalProperty)}`
  if (e.keyword === 'required') return `${JSON.stringify((e.params as {missingProperty: string}).missingProperty)} is missing`
  if (e.keyword === 'enum') return `must be one of ${(e.params as {allowedValues: string[]}).allowedValues.join(', ')}`
  if (e.keyword === 'const') return `must be ${JSON.stringify((e.params as {allowedValue: unknown}).allowedValue)}`
  if (e.keyword === 'anyOf') return 'must be a port (1-65535) or a range "FROM-TO"'
  return e.message ?? e.keyword
}

function spanOf(c: Cidr): Span {
  const [address, prefix] = ipaddr.parseCIDR(c.text)
  const bits = c.family === 4 ? 32 : 128
  const start = address.toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n)
  return {family: c.family, start, end: start | ((1n << BigInt(bits - prefix)) - 1n)}
}

/** A rule's spans, merged and sorted: `within` asks whether one span lies inside them. */
class Spans {
  private readonly merged: Span[] = []

  constructor(spans: Span[]) {
    for (const s of [...spans].sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
      const last = this.merged.at(-1)
      if (last && last.family === s.family && s.start <= last.end + 1n) last.end = s.end > last.end ? s.end : last.end
      else this.merged.push({...s})
    }
  }

  within(s: Span): boolean {
    let lo = 0
    let hi = this.merged.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const m = this.merged[mid]!
      if (m.family < s.family || (m.family === s.family && m.end < s.start)) lo = mid + 1
      else if (m.family > s.family || m.start > s.start) hi = mid - 1
      else return m.end >= s.end
    }
    return false
  }
}

const portSpan = (p: PortRange): Span => ({family: 4, start: BigInt(p.from), end: BigInt(p.to)})

/** Whether a name pattern takes in all that another does: `.example.com` takes in `www.example.com` and `example.com`. */
const nameCovers = (earlier: string, later: string) =>
  earlier === later || (earlier.startsWith('.') && (later === earlier.slice(1) || later.endsWith(earlier)))

/** Whether `earlier` matches all that `later` would (so `later` never decides anything). */
function covers(earlier: PolicyRule, later: PolicyRule, spans: Map<PolicyRule, Spans>, ports: Map<PolicyRule, Spans>): boolean {
  if (earlier.protocol !== 'any' && earlier.protocol !== later.protocol) return false
  if (earlier.ports && !later.ports?.every((p) => ports.get(earlier)!.within(portSpan(p)))) return false
  if (earlier.destinations && !later.destinations?.every((c) => spans.get(earlier)!.within(spanOf(c)))) return false
  if (earlier.domains && !later.domains?.every((d) => earlier.domains!.some((e) => nameCovers(e, d)))) return false
  return true
}

const described = (r: PolicyRule) => (r.name === r.path ? r.path : `${r.path} (${r.name})`)

/** Rules that an earlier rule leaves nothing to: an error when their action differs (the file says what it does not do). */
function shadowProblems(rules: PolicyRule[]): Problem[] {
  const spans = new Map(rules.map((r) => [r, new Spans((r.destinations ?? []).map(spanOf))]))
  const ports = new Map(rules.map((r) => [r, new Spans((r.ports ?? []).map(portSpan))]))
  const problems: Problem[] = []
  for (const [j, later] of rules.entries()) {
    const earlier = rules.slice(0, j).find((r) => covers(r, later, spans, ports))
    if (!earlier) continue
    const same = earlier.action === later.action
    problems.push({
      path: later.path,
      severity: same ? 'warning' : 'error',
      message: same
        ? `never matches: ${described(earlier)} before it already ${earlier.action}s all of its traffic (remove it)`
        : `never matches: ${described(earlier)} before it ${earlier.action}s all the traffic this rule would ${later.action} (move it above, or narrow the earlier rule)`,
    })
  }
  return problems
}

/** Blocks of one rule that lie inside another of its own: harmless, but often a list that was not meant so. */
function overlapProblems(rule: PolicyRule): Problem[] {
  const list = rule.destinations ?? []
  const order = list.map((c, i) => ({c, i, s: spanOf(c)})).sort((a, b) => a.s.family - b.s.family || (a.s.start < b.s.start ? -1 : a.s.start > b.s.start ? 1 : a.s.end > b.s.end ? -1 : 1))
  const problems: Problem[] = []
  let outer: (typeof order)[number] | undefined
  for (const x of order) {
    if (outer && outer.s.family === x.s.family && x.s.end <= outer.s.end) {
      problems.push({path: `${rule.path}.destinations[${x.i}]`, severity: 'warning', message: `${x.c.text} lies within ${outer.c.text} (destinations[${outer.i}])`})
    } else outer = x
  }
  const SHOWN = 5
  if (problems.length <= SHOWN) return problems
  return [...problems.slice(0, SHOWN), {path: `${rule.path}.destinations`, severity: 'warning', message: `${problems.length - SHOWN} more blocks lie within others of this rule`}]
}

/** A checked rule from its raw form, with what is wrong in its values (the schema has passed). */
function checkRule(raw: RawRule, index: number, problems: Problem[]): PolicyRule {
  const path = `rules[${index}]`
  const protocol = raw.protocol ?? 'any'
  const destinations: Cidr[] = []
  for (const [i, text] of (raw.destinations ?? []).entries()) {
    const cidr = parseCidr(text)
    if (typeof cidr === 'string') problems.push({path: `${path}.destinations[${i}]`, severity: 'error', message: cidr})
    else destinations.push(cidr)
  }
  const ports: PortRange[] = []
  for (const [i, p] of (raw.ports ?? []).entries()) {
    const [from, to] = typeof p === 'number' ? [p, p] : p.split('-').map(Number) as [number, number]
    if (!(from >= 1 && to <= 65535 && from <= to)) problems.push({path: `${path}.ports[${i}]`, severity: 'error', message: `${p} is not a port range: FROM-TO with 1 ≤ FROM ≤ TO ≤ 65535`})
    else ports.push({from, to})
  }
  if (raw.ports && protocol !== 'tcp' && protocol !== 'udp')
    problems.push({path: `${path}.ports`, severity: 'error', message: `ports need protocol tcp or udp (this rule's is ${protocol})`})
  if (raw.domains) {
    if (raw.destinations) problems.push({path: `${path}.domains`, severity: 'error', message: 'a rule matches destinations or domains, not both: make it two rules'})
    if (protocol !== 'tcp' && protocol !== 'any') problems.push({path: `${path}.protocol`, severity: 'error', message: `domains are read from TLS and HTTP, over tcp (this rule's protocol is ${protocol})`})
    return {name: raw.name ?? path, path, action: raw.action, protocol: 'tcp', ports: raw.ports ? ports : [...DOMAIN_PORTS], domains: raw.domains.map((d) => d.toLowerCase())}
  }
  return {
    name: raw.name ?? path, path, action: raw.action, protocol,
    ...(raw.destinations ? {destinations} : {}), ...(raw.ports ? {ports} : {}),
  }
}

/** Every problem of a policy document, by place, and the policy itself where it has no error. */
export function checkPolicy(text: string): {policy?: Policy; problems: Problem[]} {
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  const lineOf = (segments: (string | number)[]) => {
    const node = doc.getIn(segments, true) as {range?: [number, number, number]} | undefined
    return node?.range ? lines.linePos(node.range[0]).line : undefined
  }
  if (doc.errors.length) {
    return {problems: doc.errors.map((e) => ({line: lines.linePos(e.pos[0]).line, path: '', severity: 'error', message: `not YAML or JSON: ${e.message.split('\n')[0]}`}))}
  }
  const raw = doc.toJS() as unknown
  if (!validate(raw)) {
    const problems = (validate.errors ?? [])
      // anyOf's branches say the same thing as anyOf itself.
      .filter((e) => !/\/ports\/\d+$/.test(e.instancePath) || e.keyword === 'anyOf')
      .map((e): Problem => {
        const segments = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s))
        return {line: lineOf(segments), path: pathText(segments), severity: 'error', message: schemaMessage(e)}
      })
    return {problems}
  }
  const problems: Problem[] = []
  const rules = (raw.rules ?? []).map((r, i) => checkRule(r, i, problems))
  const seen = new Map<string, string>()
  for (const r of rules) {
    const first = seen.get(r.name)
    if (RESERVED_NAMES.includes(r.name)) problems.push({path: `${r.path}.name`, severity: 'error', message: `${r.name} is the name of gwlb's own counters (${RESERVED_NAMES.join(', ')}): give the rule another`})
    else if (first) problems.push({path: `${r.path}.name`, severity: 'error', message: `${r.name} names ${first} already: names label the counters, so each is one rule's`})
    else seen.set(r.name, r.path)
  }
  // The engine judges names after the kernel has tried every address rule: the file says so in its order.
  const lastAddress = rules.map((r) => !r.domains).lastIndexOf(true)
  for (const r of rules.slice(0, Math.max(lastAddress, 0)).filter((x) => x.domains))
    problems.push({path: r.path, severity: 'error', message: `domain rules are tried after every address rule: move it below ${rules[lastAddress]!.path}`})
  if (!problems.some((p) => p.severity === 'error')) problems.push(...shadowProblems(rules), ...rules.flatMap(overlapProblems))
  for (const p of problems) p.line ??= lineOf(p.path.split(/[.[\]]+/).filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)))
  const sha256 = createHash('sha256').update(text).digest('hex')
  return problems.some((p) => p.severity === 'error') ? {problems} : {policy: {default: raw.default, unknown: raw.unknown ?? raw.default, rules, sha256}, problems}
}

/** `FILE:LINE: PATH: message`, the form editors jump to. */
export const problemLine = (file: string, p: Problem) =>
  `${file}${p.line ? `:${p.line}` : ''}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.path ? `${p.path}: ` : ''}${p.message}`

/** The policy in a file, or a one-line error naming its first problem (and how many more there are). */
export async function loadPolicy(file: string): Promise<Policy> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`policy ${file} cannot be read (${error.code ?? error.message})`, 'give the path of a policy file (gwlb policy example prints one)', 'usage')
  })
  const {policy, problems} = checkPolicy(text)
  if (policy) return policy
  const errors = problems.filter((p) => p.severity === 'error')
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
  throw new UserError(`${problemLine(file, errors[0]!)}${more}`, `gwlb policy check ${file} lists every problem; nothing was changed`)
}

/** Port ranges as one set's elements: sorted, overlapping ones joined (an nft set refuses overlaps). */
export function mergedPorts(ports: PortRange[]): PortRange[] {
  const out: PortRange[] = []
  for (const p of [...ports].sort((a, b) => a.from - b.from)) {
    const last = out.at(-1)
    if (last && p.from <= last.to + 1) last.to = Math.max(last.to, p.to)
    else out.push({...p})
  }
  return out
}

/** The policy of an appliance that was given none yet: everything passes. */
export const OPEN_POLICY = '# No egress policy was pushed yet: everything passes (gwlb policy push / gwlb lab policy push).\nversion: 1\ndefault: allow\n'

/** A short version for people: the first 12 hex digits of its SHA-256. */
export const shortVersion = (sha256: string) => sha256.slice(0, 12)
