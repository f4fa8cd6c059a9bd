import {UserError} from '../errors.js'
import type {DeploymentSpec} from './spec.js'

/**
 * How a setting reaches a running deployment when a re-run of init changes it: `in-place` (AWS changes the
 * resource: attributes, health checks, rules, sizes), `rolling` (what the instances carry: a new
 * launch-template version, rolled out by an instance refresh), or `fixed` (the resource would have to be
 * made anew: refused before anything changes).
 */
export type ChangeKind = 'in-place' | 'rolling' | 'fixed'

interface Field {
  key: keyof DeploymentSpec
  label: string
  flag: string
  kind: ChangeKind
}

const FIELDS: Field[] = [
  {key: 'vpcId', label: 'VPC', flag: '--vpc-id', kind: 'fixed'},
  {key: 'applianceSubnets', label: 'appliance subnets', flag: '--appliance-subnets', kind: 'fixed'},
  {key: 'endpointSubnets', label: 'endpoint subnets', flag: '--endpoint-subnets', kind: 'fixed'},
  {key: 'natGateways', label: 'NAT gateways', flag: '--nat-gateways', kind: 'fixed'},
  {key: 'natSubnets', label: 'NAT subnets', flag: '--nat-subnets', kind: 'fixed'},
  {key: 'routes', label: 'routes', flag: '--route', kind: 'in-place'},
  {key: 'mode', label: 'mode', flag: '--mode', kind: 'rolling'},
  {key: 'instanceType', label: 'instance type', flag: '--instance-type', kind: 'rolling'},
  {key: 'amiId', label: 'AMI', flag: '--ami-id', kind: 'rolling'},
  {key: 'keyName', label: 'key pair', flag: '--key-name', kind: 'rolling'},
  {key: 'package', label: 'package', flag: '--package', kind: 'rolling'},
  {key: 'healthPort', label: 'health port', flag: '--health-port', kind: 'rolling'},
  {key: 'healthProtocol', label: 'health check protocol', flag: '--health-protocol', kind: 'in-place'},
  {key: 'minSize', label: 'min size', flag: '--min-size', kind: 'in-place'},
  {key: 'maxSize', label: 'max size', flag: '--max-size', kind: 'in-place'},
  {key: 'desiredCapacity', label: 'desired capacity', flag: '--desired-capacity', kind: 'in-place'},
  {key: 'stickiness', label: 'stickiness', flag: '--stickiness', kind: 'in-place'},
  {key: 'failover', label: 'failover', flag: '--failover', kind: 'in-place'},
  {key: 'deregistrationDelay', label: 'deregistration delay', flag: '--deregistration-delay', kind: 'in-place'},
  {key: 'crossZone', label: 'cross-zone', flag: '--cross-zone', kind: 'in-place'},
  {key: 'allowedPrincipals', label: 'allowed principals', flag: '--allowed-principal', kind: 'in-place'},
  {key: 'tgwAttachments', label: 'Transit Gateway attachments', flag: '--tgw-attachment', kind: 'in-place'},
]

export interface SettingChange {
  key: keyof DeploymentSpec
  kind: ChangeKind
  /** "health port 80 → 8080" */
  words: string
}

const shown = (value: unknown): string => {
  if (Array.isArray(value)) return value.length ? value.map((v) => (typeof v === 'object' ? `${v.routeTableId}=${v.cidr}` : String(v))).join(',') : 'none'
  if (value === undefined || value === '') return 'default'
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  return String(value)
}

/** The settings that differ between what the deployment was made with and what is asked now, field by field. */
export function settingChanges(stored: DeploymentSpec, asked: DeploymentSpec): SettingChange[] {
  return FIELDS.filter((f) => shown(stored[f.key]) !== shown(asked[f.key]))
    .map((f) => ({key: f.key, kind: f.kind, words: `${f.label} ${shown(stored[f.key])} → ${shown(asked[f.key])}`}))
}

/** Refuses, before anything changes, what cannot change in place, with the way to get there. */
export function refuseFixed(changes: SettingChange[], stored: DeploymentSpec): void {
  const fixed = changes.filter((c) => c.kind === 'fixed')
  if (fixed.length === 0) return
  const keep = FIELDS.filter((f) => fixed.some((c) => c.key === f.key)).map((f) => `${f.flag} ${shown(stored[f.key])}`).join(' ')
  throw new UserError(`${fixed.map((c) => c.words).join('; ')}: cannot change in place`,
    `keep ${keep}; or build the new shape beside it (gwlb init --name <new> …), move the routes, then gwlb destroy --name ${stored.name}`, 'refused')
}
