import {checkbox, confirm, input, select} from '@inquirer/prompts'
import {listRouteTables, listSubnets, listVpcs, type SubnetChoice} from '../aws/choices.js'
import type {AwsClients} from '../aws/clients.js'
import {parseCidr} from '../cidr.js'
import {DEFAULTS, withDefaults} from '../aws/settings-table.js'
import {isUsableName, NAME_RULE, type DeploymentSpec, type PartialSpec, type RouteSpec} from '../aws/spec.js'
import {UserError} from '../errors.js'
import {MODE_NAMES, MODES} from '../mode.js'
import {GENEVE_PORT} from '../generated/abi.js'

/** Streams for the prompts; tests drive the wizard through these. */
export interface PromptContext {
  input?: NodeJS.ReadableStream
  output?: NodeJS.WritableStream
}

const subnetLabel = (s: SubnetChoice) => `${s.az}  ${s.id}  ${s.cidr.padEnd(18)} ${s.name ?? ''}${s.public ? '  (public)' : ''}`

/** A choice of subnets is good when it has one subnet per AZ. */
function onePerAz(subnets: SubnetChoice[]) {
  return (chosen: readonly {value: string}[]) => {
    if (chosen.length === 0) return 'choose at least one subnet'
    const azs = chosen.map((c) => subnets.find((s) => s.id === c.value)!.az)
    const twice = azs.find((az, i) => azs.indexOf(az) !== i)
    return twice ? `two subnets in ${twice}: choose one per Availability Zone` : true
  }
}

/**
 * The interactive part of `gwlb init`: asks, with choices read live from the account, for each value the
 * flags did not give, checking as it goes. Returns a complete spec (defaults for what was not asked).
 */
export async function askForSpec(aws: AwsClients, given: PartialSpec, context: PromptContext = {}): Promise<DeploymentSpec> {
  const spec: PartialSpec = {...given}
  spec.name ??= await input({message: 'Deployment name (tags every resource)', default: DEFAULTS.name, validate: (v) => isUsableName(v) || NAME_RULE}, context)

  if (!spec.vpcId) {
    const vpcs = await listVpcs(aws)
    if (vpcs.length === 0) throw new UserError('this account has no VPC in the region', 'create one first, or pass --region')
    spec.vpcId = await select({message: 'VPC', choices: vpcs.map((v) => ({name: `${v.id}  ${v.cidr.padEnd(18)} ${v.name ?? ''}`, short: v.id, value: v.id}))}, context)
  }
  const subnets = await listSubnets(aws, spec.vpcId)
  const pickSubnets = (message: string, preferPublic: boolean) =>
    checkbox({
      message,
      choices: subnets.map((s) => ({name: subnetLabel(s), short: s.id, value: s.id, checked: false, disabled: preferPublic && !s.public ? '(not public)' : false})),
      validate: onePerAz(subnets),
      pageSize: 12,
    }, context)

  spec.applianceSubnets ??= await pickSubnets('Subnets for the GWLB and the appliances (one per AZ)', false)
  const azs = new Set(spec.applianceSubnets.map((id) => subnets.find((s) => s.id === id)?.az))
  if (azs.size < 2 && !(await confirm({message: 'Only one Availability Zone: an AZ outage stops all traffic. Go on?', default: false}, context)))
    throw new UserError('stopped at the AZ check', 'choose appliance subnets in two or more AZs')
  spec.endpointSubnets ??= await pickSubnets('Subnets for the GWLB endpoints (one per AZ)', false)

  spec.mode ??= await select({message: 'Appliance mode', default: DEFAULTS.mode, choices: MODE_NAMES.map((mode) => ({name: `${mode}: ${MODES[mode].description}`, value: mode}))}, context)
  spec.natGateways ??= await confirm({message: 'NAT gateways with Elastic IPs (fixed egress address; also lets appliances install software)?', default: true}, context)
  if (spec.natGateways) spec.natSubnets ??= await pickSubnets('Public subnets for the NAT gateways (one per appliance AZ)', true)

  if (!spec.routes) {
    const tables = (await listRouteTables(aws, spec.vpcId, subnets)).filter((t) => t.azs.length <= 1)
    // The deployment's own subnets' tables are not offered: their traffic would loop back into the GWLB.
    const own = new Set([...spec.applianceSubnets, ...spec.endpointSubnets, ...(spec.natGateways ? (spec.natSubnets ?? []) : [])])
    const chosen = await checkbox({
      message: 'Route tables to send through the GWLB endpoints (none: add routes later)',
      choices: tables.map((t) => ({
        name: `${t.id}  ${t.azs[0] ?? 'edge/unassociated'}  ${t.name ?? ''}${t.main ? ' (main)' : ''}`, short: t.id, value: t.id,
        disabled: t.subnets.some((s) => own.has(s)) ? '(the deployment\'s own subnets: would loop)' : false,
      })),
    }, context)
    const routes: RouteSpec[] = []
    for (const routeTableId of chosen) {
      const cidr = await input({message: `Destination to send through the endpoint, in ${routeTableId}`, default: '0.0.0.0/0', validate: (v) => { const c = parseCidr(v); return typeof c === 'string' ? c : true }}, context)
      routes.push({routeTableId, cidr})
    }
    spec.routes = routes
  }

  spec.instanceType ??= await input({message: 'Appliance instance type', default: DEFAULTS.instanceType}, context)
  spec.desiredCapacity ??= Number(await input({message: 'Appliances to run', default: String(DEFAULTS.desiredCapacity), validate: (v) => /^\d+$/.test(v) || 'a number'}, context))
  spec.minSize ??= Math.min(DEFAULTS.minSize, spec.desiredCapacity)
  spec.maxSize ??= Math.max(DEFAULTS.maxSize, spec.desiredCapacity)
  spec.healthPort ??= Number(await input({message: 'Appliance health-check port', default: String(DEFAULTS.healthPort), validate: (v) => (/^\d+$/.test(v) && Number(v) > 0 && Number(v) < 65536 && v !== String(GENEVE_PORT)) || `a TCP port other than ${GENEVE_PORT}`}, context))
  return withDefaults(spec)
}
