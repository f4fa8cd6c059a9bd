import {Flags} from '@oclif/core'
import {parseCidr} from '../cidr.js'
import {UserError} from '../errors.js'
import {EVE_EVENTS} from '../ids-rules.js'
import {DEFAULT_MODE, MODE_NAMES} from '../mode.js'
import type {DeploymentSpec, PartialSpec, RouteSpec} from './spec.js'

export const DEFAULTS = {
  name: 'gwlb',
  mode: DEFAULT_MODE,
  instanceType: 'c6i.large',
  minSize: 2,
  maxSize: 4,
  desiredCapacity: 2,
  healthPort: 80,
  healthProtocol: 'HTTP',
  stickiness: '5-tuple',
  failover: 'no-rebalance',
  deregistrationDelay: 300,
  crossZone: false,
  ids: 'none',
  idsMode: 'ids',
  idsFail: 'open',
  idsRuleset: 'et-open',
  logRetention: 30,
  tcpIdleTimeout: 350,
  scaleOn: 'none',
} as const

export function parseRoute(value: string): RouteSpec {
  const [routeTableId, cidr, ...rest] = value.split('=')
  if (!routeTableId?.startsWith('rtb-') || !cidr || rest.length > 0)
    throw new UserError(`--route ${value} is not ROUTE_TABLE_ID=CIDR`, 'write it like --route rtb-0123abcd=0.0.0.0/0', 'usage')
  const parsed = parseCidr(cidr)
  if (typeof parsed === 'string') throw new UserError(`--route ${value}: ${parsed}`, 'write it like --route rtb-0123abcd=0.0.0.0/0', 'usage')
  return {routeTableId, cidr}
}

/**
 * How a setting reaches a running deployment when a re-run of init changes it: `in-place` (AWS changes the
 * resource: attributes, health checks, rules, sizes), `rolling` (what the instances carry: a new
 * launch-template version, rolled out by an instance refresh), or `fixed` (the resource would have to be
 * made anew: refused before anything changes).
 */
export type ChangeKind = 'in-place' | 'rolling' | 'fixed'

/**
 * How a setting is written on the command line: `text`, `integer`, `choice` (one of `choices`), `switch`
 * (--x / --no-x), `comma` (comma-separated, or the flag repeated; each one of `choices` if given), `list` (the flag repeated; `none`: an
 * empty list), `routes` (RTB_ID=CIDR, repeated; `none`: no route).
 */
export type SettingType = 'text' | 'integer' | 'choice' | 'switch' | 'comma' | 'list' | 'routes'

/** One setting of a deployment: everything the flags, the plan, the change rules and the appliances know of it. */
export interface Setting {
  key: Exclude<keyof DeploymentSpec, 'name'>
  /** Its flag, without the dashes. */
  flag: string
  type: SettingType
  /** What the plan and the change refusals call it: "health port 80 → 8080". */
  label: string
  change: ChangeKind
  description: string
  /** Taken when neither the flags nor the stored settings give it (lists: empty; absent: none). */
  default?: string | number | boolean
  choices?: readonly string[]
  min?: number
  max?: number
  /** An environment variable that gives it too. */
  env?: string
  /** The `appliance run` flag the appliances get it as (through the user data). */
  appliance?: string
  /** Its value there, where that is not the setting's own; undefined: the flag is left out. */
  applianceValue?: (spec: DeploymentSpec) => string | number | undefined
}

/**
 * The inspection settings reach the appliances only where an engine runs. (The TCP idle timeout only where it is
 * not AWS's 350 s, the appliances' own default: a fleet made before the setting existed keeps its user data.)
 */
const withEngine = (key: 'idsMode' | 'idsFail') => (spec: DeploymentSpec) => (spec.ids === 'none' ? undefined : spec[key])

/**
 * Every deployment setting but the name (the deployment's identity, given to every command), in the order
 * the command line writes them. Adding a setting is one entry here (and its field in DeploymentSpec).
 */
export const SETTINGS: Setting[] = [
  {key: 'vpcId', flag: 'vpc-id', type: 'text', label: 'VPC', change: 'fixed', description: 'VPC of the appliances and endpoints'},
  {key: 'applianceSubnets', flag: 'appliance-subnets', type: 'comma', label: 'appliance subnets', change: 'fixed', description: 'subnets for the GWLB and the appliances, one per AZ (comma-separated)'},
  {key: 'endpointSubnets', flag: 'endpoint-subnets', type: 'comma', label: 'endpoint subnets', change: 'fixed', description: 'subnets for the GWLB endpoints, one per AZ (comma-separated)'},
  {key: 'natSubnets', flag: 'nat-subnets', type: 'comma', label: 'NAT subnets', change: 'fixed', description: 'public subnets for the NAT gateways, one per appliance AZ (comma-separated)'},
  {key: 'natGateways', flag: 'nat-gateways', type: 'switch', label: 'NAT gateways', change: 'fixed', default: true, description: 'NAT gateways with Elastic IPs for a fixed egress address (--no-nat-gateways: none)'},
  {key: 'routes', flag: 'route', type: 'routes', label: 'routes', change: 'in-place', description: 'send CIDR in route table RTB through the GWLB endpoint of its AZ: RTB_ID=CIDR (repeatable; none: no route)'},
  {key: 'mode', flag: 'mode', type: 'choice', label: 'mode', change: 'rolling', default: DEFAULTS.mode, choices: MODE_NAMES, appliance: 'mode', description: 'appliance mode'},
  {key: 'instanceType', flag: 'instance-type', type: 'text', label: 'instance type', change: 'rolling', default: DEFAULTS.instanceType, description: 'appliance instance type'},
  {key: 'minSize', flag: 'min-size', type: 'integer', label: 'min size', change: 'in-place', default: DEFAULTS.minSize, min: 0, description: 'Auto Scaling minimum'},
  {key: 'maxSize', flag: 'max-size', type: 'integer', label: 'max size', change: 'in-place', default: DEFAULTS.maxSize, min: 1, description: 'Auto Scaling maximum'},
  {key: 'scaleOn', flag: 'scale-on', type: 'text', label: 'scaling', change: 'in-place', default: DEFAULTS.scaleOn, description: 'target tracking between --min-size and --max-size: cpu:PCT, network:MBPS or packets:PPS (received per appliance; packets: as the appliances count them), or none (stay at --desired-capacity)'},
  {key: 'desiredCapacity', flag: 'desired-capacity', type: 'integer', label: 'desired capacity', change: 'in-place', default: DEFAULTS.desiredCapacity, min: 0, description: 'appliances to run'},
  {key: 'healthPort', flag: 'health-port', type: 'integer', label: 'health port', change: 'rolling', default: DEFAULTS.healthPort, min: 1, max: 65535, appliance: 'health-port', description: 'appliance health-check port'},
  {key: 'healthProtocol', flag: 'health-protocol', type: 'choice', label: 'health check protocol', change: 'in-place', default: DEFAULTS.healthProtocol, choices: ['HTTP', 'TCP'], description: 'health check protocol'},
  {key: 'stickiness', flag: 'stickiness', type: 'choice', label: 'stickiness', change: 'in-place', default: DEFAULTS.stickiness, choices: ['5-tuple', '3-tuple', '2-tuple'], description: 'flow stickiness'},
  {key: 'failover', flag: 'failover', type: 'choice', label: 'failover', change: 'in-place', default: DEFAULTS.failover, choices: ['rebalance', 'no-rebalance'], description: 'target failover on deregistration and when unhealthy'},
  {key: 'deregistrationDelay', flag: 'deregistration-delay', type: 'integer', label: 'deregistration delay', change: 'in-place', default: DEFAULTS.deregistrationDelay, min: 0, max: 3600, description: 'seconds to drain a deregistered appliance'},
  {key: 'amiId', flag: 'ami-id', type: 'text', label: 'AMI', change: 'rolling', description: 'AMI (default: Canonical\'s current Ubuntu 22.04 for the instance type\'s CPU)'},
  {key: 'keyName', flag: 'key-name', type: 'text', label: 'key pair', change: 'rolling', description: 'EC2 key pair for SSH to the appliances'},
  {key: 'package', flag: 'package', type: 'text', label: 'package', change: 'rolling', env: 'GWLB_PACKAGE', description: 'the gwlb the appliances run, staged in the deployment\'s bucket: a .tgz file, tarball URL or npm spec (default: this gwlb, packed from its installation)'},
  {key: 'tcpIdleTimeout', flag: 'tcp-idle-timeout', type: 'integer', label: 'TCP idle timeout', change: 'rolling', default: DEFAULTS.tcpIdleTimeout, min: 60, max: 6000, appliance: 'flow-timeout', applianceValue: (spec) => (spec.tcpIdleTimeout === DEFAULTS.tcpIdleTimeout ? undefined : spec.tcpIdleTimeout), description: 'seconds the GWLB keeps an idle TCP flow (its listener), and the appliances their flows: one setting'},
  {key: 'tcpReset', flag: 'tcp-reset', type: 'comma', label: 'TCP resets', change: 'in-place', choices: ['idle', 'unhealthy', 'deregistration'], description: 'the GWLB resets TCP flows that go idle, whose appliance turns unhealthy, or is deregistered (comma-separated; none: no resets)'},
  {key: 'crossZone', flag: 'cross-zone', type: 'switch', label: 'cross-zone', change: 'in-place', default: DEFAULTS.crossZone, description: 'cross-zone load balancing'},
  {key: 'allowedPrincipals', flag: 'allowed-principal', type: 'list', label: 'allowed principals', change: 'in-place', description: 'account id or IAM ARN (account root, role, user) allowed to connect endpoints (repeatable; default this account; none: back to the default)'},
  {key: 'ids', flag: 'ids', type: 'choice', label: 'IDS', change: 'rolling', default: DEFAULTS.ids, choices: ['suricata', 'none'], description: 'the inspection engine on every appliance, its alerts in CloudWatch Logs /gwlb/NAME/eve'},
  {key: 'idsMode', flag: 'ids-mode', type: 'choice', label: 'IDS mode', change: 'rolling', default: DEFAULTS.idsMode, choices: ['ids', 'ips'], appliance: 'inspect', applianceValue: withEngine('idsMode'), description: 'ids: the engine sees a copy of the traffic; ips: inline, it may drop'},
  {key: 'idsFail', flag: 'ids-fail', type: 'choice', label: 'IDS failure', change: 'rolling', default: DEFAULTS.idsFail, choices: ['open', 'closed'], appliance: 'inspect-fail', applianceValue: withEngine('idsFail'), description: 'while an appliance\'s engine is down: open, traffic flows uninspected; closed, the appliance turns unhealthy'},
  {key: 'idsRuleset', flag: 'ids-ruleset', type: 'choice', label: 'IDS ruleset', change: 'rolling', default: DEFAULTS.idsRuleset, choices: ['et-open', 'none'], description: 'rules the engines fetch themselves besides yours (gwlb rules push, --ids-rules): et-open, Proofpoint\'s ET Open through suricata-update at boot and daily (needs egress: NAT gateways), or none'},
  {key: 'idsEvents', flag: 'ids-events', type: 'comma', label: 'IDS events', change: 'rolling', choices: EVE_EVENTS, description: 'eve event types the engines log and ship to CloudWatch Logs besides alerts (comma-separated; none: alerts only)'},
  {key: 'logRetention', flag: 'log-retention', type: 'integer', label: 'log retention', change: 'in-place', default: DEFAULTS.logRetention, min: 1, description: 'days CloudWatch Logs keeps the alerts'},
  {key: 'tgwAttachments', flag: 'tgw-attachment', type: 'list', label: 'Transit Gateway attachments', change: 'in-place', description: 'Transit Gateway VPC attachment to put in appliance mode (repeatable; none: no attachment)'},
]

/** RTB_ID=CIDR, checked as the flags are parsed; `none` for no route at all. */
const routeFlag = Flags.custom<RouteSpec | 'none'>({parse: async (value) => (value === 'none' ? 'none' : parseRoute(value))})

const isList = (s: Setting) => s.type === 'comma' || s.type === 'list' || s.type === 'routes'

function flagOf(s: Setting) {
  const shownDefault = s.default !== undefined && s.type !== 'switch' ? ` (default ${s.default})` : ''
  const description = s.description + shownDefault
  switch (s.type) {
    case 'text': return Flags.string({description, env: s.env})
    case 'integer': return Flags.integer({description, min: s.min, max: s.max})
    case 'choice': return Flags.string({description, options: [...s.choices!]})
    case 'switch': return Flags.boolean({description, allowNo: true})
    case 'comma': return Flags.string({description, multiple: true, delimiter: ',', options: s.choices && [...s.choices, 'none']})
    case 'list': return Flags.string({description, multiple: true, multipleNonGreedy: true})
    case 'routes': return routeFlag({description, multiple: true, multipleNonGreedy: true})
  }
}

/** init's flags for the settings, by flag name. */
export const settingFlags = () => Object.fromEntries(SETTINGS.map((s) => [s.flag, flagOf(s)]))

/**
 * What the flags gave, by setting: absent (the stored settings' value on a re-run), or the value; a list
 * given as `none` is an empty list (what was there is given back).
 */
export function givenByFlags(flags: Record<string, unknown>): PartialSpec {
  const given: Record<string, unknown> = {}
  for (const s of SETTINGS) {
    const value = flags[s.flag]
    if (value !== undefined) given[s.key] = isList(s) && Array.isArray(value) && value.includes('none') ? [] : value
  }
  // The flags' parsers have checked each value against its setting's type and choices.
  return given as PartialSpec
}

/** Each setting not given takes its default; without NAT gateways there are no NAT subnets. */
export function defaultsFor(given: PartialSpec): Omit<DeploymentSpec, 'name'> {
  const spec: Record<string, unknown> = {}
  for (const s of SETTINGS) spec[s.key] = given[s.key] ?? (isList(s) ? [] : s.default)
  if (spec.natGateways === false) spec.natSubnets = []
  return spec as Omit<DeploymentSpec, 'name'>
}

/** A setting as words on a command line (nothing where it is at its default). */
export function flagWords(s: Setting, value: unknown): string[] {
  if (value === undefined || value === s.default) return []
  const flag = `--${s.flag}`
  switch (s.type) {
    case 'switch': return [value ? flag : `--no-${s.flag}`]
    case 'comma': return (value as string[]).length ? [`${flag} ${(value as string[]).join(',')}`] : []
    case 'list': return (value as string[]).map((v) => `${flag} ${v}`)
    case 'routes': return (value as RouteSpec[]).map((r) => `${flag} ${r.routeTableId}=${r.cidr}`)
    default: return [`${flag} ${String(value)}`]
  }
}

/** How a value reads in the plan: lists joined, none for empty, on/off. */
export function shown(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.map((v) => (typeof v === 'object' ? `${v.routeTableId}=${v.cidr}` : String(v))).join(',') : 'none'
  if (value === undefined || value === '') return 'default'
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  return String(value)
}

/** The `appliance run` flags the settings give the appliances (the rest of their command line is init's to find). */
export const applianceArgs = (spec: DeploymentSpec): string[] => SETTINGS.filter((s) => s.appliance).flatMap((s) => {
  const value = s.applianceValue ? s.applianceValue(spec) : spec[s.key]
  return value === undefined ? [] : [`--${s.appliance} ${String(value)}`]
})

/**
 * The settings an appliance carries in its user data (the rolling ones but those the launch template holds in
 * fields of its own: instance type, AMI, key pair; and the package, judged by what was staged): written into the
 * user data as one line, and read back from it to tell which of them a new version would change.
 */
const TEMPLATE_FIELDS: Setting['key'][] = ['instanceType', 'amiId', 'keyName', 'package']
export const USER_DATA_SETTINGS = SETTINGS.filter((s) => s.change === 'rolling' && !TEMPLATE_FIELDS.includes(s.key))
export const carriedSettings = (spec: DeploymentSpec) => Object.fromEntries(USER_DATA_SETTINGS.map((s) => [s.key, spec[s.key]]))

/** The command line that makes this deployment without prompts (printed at the end of the wizard). */
export function commandLine(spec: DeploymentSpec, region: string): string {
  return ['gwlb init --yes', `--name ${spec.name}`, `--region ${region}`, ...SETTINGS.flatMap((s) => flagWords(s, spec[s.key]))].join(' \\\n  ')
}

/** What was given, and for the rest what the deployment was made with (its stored settings), if it exists. */
export function withStored(given: PartialSpec, stored: DeploymentSpec | undefined): PartialSpec {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as PartialSpec
  return {...stored, ...defined}
}

/** --yes: every required value must be a flag; the rest take their defaults. */
export function completeFromFlags(given: PartialSpec): DeploymentSpec {
  const required: [keyof PartialSpec, string][] = [['vpcId', '--vpc-id'], ['applianceSubnets', '--appliance-subnets'], ['endpointSubnets', '--endpoint-subnets']]
  if (given.natGateways !== false) required.push(['natSubnets', '--nat-subnets (or --no-nat-gateways)'])
  const absent = required.filter(([key]) => given[key] === undefined).map(([, flag]) => flag)
  if (absent.length) throw new UserError(`missing ${absent.join(', ')}`, 'pass them as flags, or run gwlb init without --yes for the wizard', 'usage')
  return withDefaults(given)
}

export function withDefaults(given: PartialSpec): DeploymentSpec {
  return {name: given.name ?? DEFAULTS.name, ...defaultsFor(given)}
}
