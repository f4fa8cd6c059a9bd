import {parse as parseArn, validate as validateArn} from '@aws-sdk/util-arn-parser'
import {UserError} from '../errors.js'
import type {EveEvent} from '../ids-rules.js'
import type {Mode} from '../mode.js'
import {GENEVE_PORT} from '../generated/abi.js'
import {parseScaleOn} from './scale-on.js'

/** Everything `gwlb init` needs to know; the wizard and the flags both fill it in, validate() checks it. */
export interface DeploymentSpec {
  name: string
  vpcId: string
  applianceSubnets: string[]
  endpointSubnets: string[]
  /** Public subnets for one NAT gateway per AZ; empty with natGateways false. */
  natSubnets: string[]
  natGateways: boolean
  routes: RouteSpec[]
  mode: Mode
  instanceType: string
  minSize: number
  maxSize: number
  desiredCapacity: number
  amiId?: string
  keyName?: string
  healthPort: number
  healthProtocol: 'HTTP' | 'TCP'
  stickiness: '5-tuple' | '3-tuple' | '2-tuple'
  failover: 'rebalance' | 'no-rebalance'
  deregistrationDelay: number
  crossZone: boolean
  allowedPrincipals: string[]
  tgwAttachments: string[]
  /** The gwlb the appliances run: a .tgz file, tarball URL or npm spec; absent: the gwlb running init. */
  package?: string
  /** The inspection engine the appliances run on their hook (none: they forward uninspected). */
  ids: 'suricata' | 'none'
  /** ids: a copy of the traffic (never delays it); ips: inline, the engine may drop. */
  idsMode: 'ids' | 'ips'
  /** While an appliance's engine is not attached: open, traffic flows uninspected; closed, it turns unhealthy. */
  idsFail: 'open' | 'closed'
  /** The rules the engines fetch themselves: ET Open through suricata-update (where the fleet has egress), or none. */
  idsRuleset: 'et-open' | 'none'
  /** The eve event types shipped to CloudWatch Logs besides the alerts. */
  idsEvents: EveEvent[]
  /** Days CloudWatch Logs keeps the alerts. */
  logRetention: number
  /** Seconds an idle TCP flow lives, at the GWLB (its listener) and on the appliances. */
  tcpIdleTimeout: number
  /** Which TCP flows the GWLB resets: those that go idle, whose target turns unhealthy, or is deregistered. */
  tcpReset: TcpReset[]
  /** Target tracking: `cpu:PCT`, `network:MBPS`, `packets:PPS` (per appliance), or none (the group stays at its desired capacity). */
  scaleOn: string
}

export type TcpReset = 'idle' | 'unhealthy' | 'deregistration'

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

/** What flags (or the wizard so far) gave; the rest is asked for or defaulted. */
export type PartialSpec = Partial<DeploymentSpec>

/** A route the operator asked for: traffic for `cidr` in route table `routeTableId` goes to the GWLB endpoint. */
export interface RouteSpec {
  routeTableId: string
  cidr: string
}


/** The target group's health-check timing (gwlb lab's stand-in checks the same way by default). */
export const TARGET_GROUP_HEALTH = {intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 3, unhealthyThreshold: 3} as const

/** Names are used in resource names (target group: 32 characters at most, with a suffix; S3 bucket names). */
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$/
export const NAME_RULE = '1-20 lower-case letters, digits and dashes, not starting or ending with a dash'
export const isUsableName = (name: string) => NAME.test(name)

const ACCOUNT = /^\d{12}$/

/** Why a principal cannot be allowed to connect endpoints, if it cannot: an account id, or an IAM account, role or user. */
function principalProblem(principal: string): string | undefined {
  if (ACCOUNT.test(principal)) return undefined
  if (!validateArn(principal)) return principal === '*' ? 'everybody is not allowed: name the accounts' : 'not an account id or an ARN'
  const {service, accountId, resource} = parseArn(principal)
  if (service !== 'iam' || !ACCOUNT.test(accountId)) return 'not an IAM principal of an account'
  if (!/^(root|role\/.+|user\/.+)$/.test(resource)) return 'only an account (:root), a role or a user can connect endpoints'
  return undefined
}

/** An account id stands for the account's root principal, as the console writes it. */
export const principalArn = (principal: string, partition: string) => (ACCOUNT.test(principal) ? `arn:${partition}:iam::${principal}:root` : principal)

/** Checks what can be checked without AWS; the live checks (IDs exist, AZs, VPC) are in topology.ts. */
export function validateSpec(spec: DeploymentSpec): void {
  // All of these are the flags' values: bad usage (exit 2), as the README says.
  const fail = (message: string, hint: string) => {
    throw new UserError(message, hint, 'usage')
  }
  if (!isUsableName(spec.name)) fail(`deployment name "${spec.name}" is not usable`, `use ${NAME_RULE}, e.g. --name egress-prod`)
  if (!spec.vpcId.startsWith('vpc-')) fail(`"${spec.vpcId}" is not a VPC id`, 'pass --vpc-id vpc-…')
  for (const [flag, ids] of [['--appliance-subnets', spec.applianceSubnets], ['--endpoint-subnets', spec.endpointSubnets], ['--nat-subnets', spec.natSubnets]] as const)
    for (const id of ids) if (!id.startsWith('subnet-')) fail(`"${id}" in ${flag} is not a subnet id`, `pass ${flag} subnet-…,subnet-…`)
  if (spec.applianceSubnets.length === 0) fail('no appliance subnets given', 'pass --appliance-subnets subnet-a,subnet-b (one per AZ)')
  if (spec.endpointSubnets.length === 0) fail('no endpoint subnets given', 'pass --endpoint-subnets subnet-a,subnet-b (one per AZ)')
  if (spec.natGateways && spec.natSubnets.length === 0) fail('no public subnets for the NAT gateways', 'pass --nat-subnets (one per AZ) or --no-nat-gateways')
  if (spec.minSize < 0 || spec.minSize > spec.desiredCapacity || spec.desiredCapacity > spec.maxSize)
    fail(`sizes must satisfy min ≤ desired ≤ max (got ${spec.minSize} ≤ ${spec.desiredCapacity} ≤ ${spec.maxSize})`, 'fix --min-size, --desired-capacity or --max-size')
  if (spec.healthPort < 1 || spec.healthPort > 65535 || spec.healthPort === GENEVE_PORT) fail(`health port ${spec.healthPort} is not usable`, `pick a TCP port other than ${GENEVE_PORT}, e.g. --health-port 80`)
  if (spec.deregistrationDelay < 0 || spec.deregistrationDelay > 3600) fail('--deregistration-delay must be 0-3600 seconds', 'e.g. --deregistration-delay 300')
  if (spec.tgwAttachments.length > 0 && spec.stickiness !== '5-tuple')
    fail(`Transit Gateway appliance mode and ${spec.stickiness} stickiness do not mix`, 'use --stickiness 5-tuple with --tgw-attachment')
  const routes = spec.routes.map((r) => `${r.routeTableId}=${r.cidr}`)
  const twice = routes.find((r, i) => routes.indexOf(r) !== i)
  if (twice) fail(`--route ${twice} is given twice`, 'give each route once')
  for (const principal of spec.allowedPrincipals) {
    const problem = principalProblem(principal)
    if (problem) fail(`--allowed-principal ${principal}: ${problem}`, 'give a 12-digit account id or an IAM ARN, e.g. arn:aws:iam::123456789012:root')
  }
  // AWS resets the flows a target keeps: none stay with rebalance, and only 5-tuple stickiness keeps them whole.
  const targetResets = spec.tcpReset.filter((r) => r !== 'idle')
  if (targetResets.length && spec.failover === 'rebalance')
    fail(`--tcp-reset ${targetResets.join(',')} does not apply with --failover rebalance (its flows move to another appliance instead)`, 'use --failover no-rebalance, or --tcp-reset idle')
  if (targetResets.length && spec.stickiness !== '5-tuple')
    fail(`--tcp-reset ${targetResets.join(',')} needs 5-tuple stickiness (got ${spec.stickiness})`, 'use --stickiness 5-tuple, or --tcp-reset idle')
  const scaleOn = parseScaleOn(spec.scaleOn)
  if (!scaleOn) fail(`--scale-on ${spec.scaleOn} is not a target`, 'give cpu:PCT (1-100), network:MBPS or packets:PPS (per appliance), or none')
  // Scale-in stops at the minimum: an AZ whose routes go to its endpoint keeps an appliance.
  if (scaleOn !== 'none' && spec.minSize < spec.applianceSubnets.length)
    fail(`--min-size ${spec.minSize} would let scale-in leave an AZ without an appliance (${spec.applianceSubnets.length} AZs)`, `give --min-size ${spec.applianceSubnets.length} or more with --scale-on`)
  if (spec.tcpIdleTimeout < 60 || spec.tcpIdleTimeout > 6000) fail('--tcp-idle-timeout must be 60-6000 seconds', 'e.g. --tcp-idle-timeout 350 (AWS\'s default)')
  if (!LOG_RETENTION_DAYS.includes(spec.logRetention)) fail(`--log-retention ${spec.logRetention} is not a period CloudWatch Logs keeps logs for`, `give one of ${LOG_RETENTION_DAYS.join(', ')} days`)
  for (const id of spec.tgwAttachments) if (!id.startsWith('tgw-attach-')) fail(`"${id}" is not a Transit Gateway attachment id`, 'pass --tgw-attachment tgw-attach-…')
}
