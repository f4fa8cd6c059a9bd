import type {Route} from '@aws-sdk/client-ec2'
import {CreateRouteCommand, CreateTagsCommand, DeleteRouteCommand, DeleteTagsCommand, DescribeRouteTablesCommand, DescribeTagsCommand, ReplaceRouteCommand} from '../../sdk/ec2.js'
import {UserError} from '../../errors.js'
import type {AwsClients} from '../clients.js'
import {awaitHealthyTargets, gateWords} from '../cutover.js'
import {done, required, scopeOf, unlessNotFound, type Resource, type Scope, type Step, type StepContext, type StepReport} from '../step.js'
import {DEPLOYMENT_TAG, tagValue} from '../tags.js'
import {endpointsOf} from './endpoints.js'
import {natGatewaysOf} from './nat.js'
import {errorCode, retrying} from '../wait.js'

/** A route that init puts in a table it did not create: destination → one of the deployment's targets. */
interface ManagedRoute {
  routeTableId: string
  cidr: string
  target: {VpcEndpointId: string} | {NatGatewayId: string}
}

const targetId = (r: ManagedRoute) => ('VpcEndpointId' in r.target ? r.target.VpcEndpointId : r.target.NatGatewayId)
const destination = (cidr: string) => (cidr.includes(':') ? {DestinationIpv6CidrBlock: cidr} : {DestinationCidrBlock: cidr})
const routeTarget = (route: Route) => route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.NetworkInterfaceId ?? route.VpcPeeringConnectionId ?? route.InstanceId

/** Where init replaced someone's route, the route table remembers the old target, so destroy can put it back. */
export const replacedTagKey = (deployment: string, cidr: string) => `gwlb:${deployment}:replaced:${cidr}`

async function currentRoute(ctx: StepContext, r: ManagedRoute): Promise<Route | undefined> {
  const {RouteTables = []} = await ctx.aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [r.routeTableId]}))
  return RouteTables[0]?.Routes?.find((x) => (x.DestinationCidrBlock ?? x.DestinationIpv6CidrBlock) === r.cidr && x.State !== 'blackhole')
}

const describeRoute = (r: ManagedRoute) => `${r.routeTableId}: ${r.cidr} → ${targetId(r)}`

/** The gwlb deployment a route target (an endpoint, a NAT gateway) belongs to, if any. */
async function deploymentOf(aws: AwsClients, resourceId: string): Promise<string | undefined> {
  const {Tags = []} = await aws.ec2.send(new DescribeTagsCommand({Filters: [{Name: 'resource-id', Values: [resourceId]}, {Name: 'key', Values: [DEPLOYMENT_TAG]}]}))
  return Tags[0]?.Value
}

/**
 * Who the route's present target belongs to. Another deployment's is refused (two deployments sharing a
 * route would take it from each other on every run); this deployment's own (a stale twin) is never
 * recorded as the target to give back.
 */
async function presentOwner(ctx: StepContext, r: ManagedRoute, present: string): Promise<'ours' | 'foreign'> {
  const owner = await deploymentOf(ctx.aws, present)
  if (owner === ctx.spec.name) return 'ours'
  if (owner)
    throw new UserError(`${r.routeTableId}: ${r.cidr} goes to ${present} of gwlb deployment ${owner}`,
      `two deployments cannot share a route: use other route tables, or take the route out of ${owner} first (re-run its init without it, or gwlb destroy --name ${owner})`, 'refused')
  return 'foreign'
}

async function findRoutes(ctx: StepContext, wanted: ManagedRoute[], type: string): Promise<{resources: Resource[]; missing: string[]}> {
  const resources: Resource[] = []
  const missing: string[] = []
  for (const r of wanted) {
    const route = await currentRoute(ctx, r)
    const present = route && routeTarget(route)
    if (present === targetId(r)) resources.push({type, id: `${r.routeTableId}:${r.cidr}`, detail: `→ ${targetId(r)}`})
    else if (!present) missing.push(describeRoute(r))
    else missing.push(`${describeRoute(r)} (replacing → ${present}${(await presentOwner(ctx, r, present)) === 'ours' ? ', a stale target of this deployment' : ''})`)
  }
  return {resources, missing}
}

/**
 * A fresh endpoint or NAT gateway can be refused as a route target for a little while (eventual
 * consistency): retry those refusals a bounded number of times.
 */
const notReadyYet = (error: unknown) =>
  ['InvalidVpcEndpointId.NotFound', 'InvalidNatGatewayID.NotFound', 'InvalidGatewayID.NotFound', 'RouteNotSupported'].includes(errorCode(error)) ||
  /route target|not supported|not in a valid state/i.test((error as Error).message ?? '')

async function ensureRoutes(ctx: StepContext, wanted: ManagedRoute[], type: string): Promise<Resource[]> {
  for (const r of wanted) {
    const route = await currentRoute(ctx, r)
    if (route && routeTarget(route) === targetId(r)) continue
    const input = {RouteTableId: r.routeTableId, ...destination(r.cidr), ...r.target}
    if (route) {
      const previous = routeTarget(route)
      if (previous && (await presentOwner(ctx, r, previous)) === 'foreign')
        await ctx.aws.ec2.send(new CreateTagsCommand({Resources: [r.routeTableId], Tags: [{Key: replacedTagKey(ctx.spec.name, r.cidr), Value: previous}]}))
      await retrying(() => ctx.aws.ec2.send(new ReplaceRouteCommand(input)), notReadyYet, {attempts: 12, delayMs: ctx.timing.pollMs})
    } else {
      await retrying(() => ctx.aws.ec2.send(new CreateRouteCommand(input)), notReadyYet, {attempts: 12, delayMs: ctx.timing.pollMs})
    }
  }
  return wanted.map((r) => ({type, id: `${r.routeTableId}:${r.cidr}`, detail: `→ ${targetId(r)}`}))
}

/** Routes anywhere in the account's route tables whose target is one of `targets`. */
async function routesTo(scope: Scope, targets: Set<string>, type: string): Promise<Resource[]> {
  if (targets.size === 0) return []
  const {RouteTables = []} = await scope.aws.ec2.send(new DescribeRouteTablesCommand({}))
  return RouteTables.flatMap((t) =>
    (t.Routes ?? [])
      .filter((r) => targets.has(routeTarget(r) ?? ''))
      .map((r) => {
        const cidr = (r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock)!
        return {type, id: `${t.RouteTableId}:${cidr}`, detail: `→ ${routeTarget(r)}`, before: tagValue(t.Tags, replacedTagKey(scope.deployment, cidr)) ?? ''}
      }))
}

function routeReport(title: string, found: Resource[]): StepReport {
  return {problems: [], hints: [], summary: `${title}:`, table: [['route table:destination', 'target'], ...found.map((r) => [r.id, r.detail?.replace('→ ', '') ?? ''])]}
}

/** The parameter of CreateRoute/ReplaceRoute that takes a target of this kind. */
function targetParameter(target: string): Record<string, string> {
  const kinds: [string, string][] = [['igw-', 'GatewayId'], ['vgw-', 'GatewayId'], ['vpce-', 'VpcEndpointId'], ['nat-', 'NatGatewayId'], ['tgw-', 'TransitGatewayId'],
    ['eni-', 'NetworkInterfaceId'], ['pcx-', 'VpcPeeringConnectionId'], ['eigw-', 'EgressOnlyInternetGatewayId'], ['i-', 'InstanceId']]
  const kind = kinds.find(([prefix]) => target.startsWith(prefix))
  return {[kind?.[1] ?? 'GatewayId']: target}
}

/** Deletes init's routes, or gives back the target a route had before init replaced it. */
async function removeRoutes(scope: Scope, owned: Resource[]): Promise<void> {
  for (const r of owned) {
    const [routeTableId, cidr] = [r.id.slice(0, r.id.indexOf(':')), r.id.slice(r.id.indexOf(':') + 1)]
    const tables = await scope.aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [routeTableId]})).catch(unlessNotFound())
    const key = replacedTagKey(scope.deployment, cidr)
    const previous = tagValue(tables?.RouteTables?.[0]?.Tags, key)
    const input = {RouteTableId: routeTableId, ...destination(cidr)}
    // The old target may be gone by now (another deployment's endpoint): then the route just goes.
    const restored = previous && (await scope.aws.ec2.send(new ReplaceRouteCommand({...input, ...targetParameter(previous)})).then(() => true, () => false))
    if (!restored) await scope.aws.ec2.send(new DeleteRouteCommand(input)).catch(unlessNotFound())
    if (previous) await scope.aws.ec2.send(new DeleteTagsCommand({Resources: [routeTableId], Tags: [{Key: key}]}))
  }
}

/** The operator's routes (--route RTB=CIDR), each to the endpoint in its route table's AZ. */
function endpointRoutes(ctx: StepContext): ManagedRoute[] {
  const endpoints = ctx.states.get('endpoint-connections')?.resources
  return ctx.spec.routes.map((route) => {
    const az = routedAz(ctx, route)
    const endpoint = endpoints?.find((e) => e.az === az)
    return {routeTableId: route.routeTableId, cidr: route.cidr, target: {VpcEndpointId: endpoint?.id ?? `(endpoint in ${az})`}}
  })
}

const routedAz = (ctx: StepContext, route: {routeTableId: string; cidr: string}) => ctx.topology.routeAzs.get(`${route.routeTableId}=${route.cidr}`)!
const routedAzs = (ctx: StepContext) => [...new Set(ctx.spec.routes.map((r) => routedAz(ctx, r)))].sort()

const endpointRoutesOwned = async (scope: Scope) => routesTo(scope, new Set((await endpointsOf(scope)).map((e) => e.VpcEndpointId!)), 'route')

/** Routes to this deployment's endpoints that the settings no longer ask for (a --route dropped on a re-run). */
async function droppedRoutes(ctx: StepContext): Promise<Resource[]> {
  const wanted = new Set(ctx.spec.routes.map((r) => `${r.routeTableId}:${r.cidr}`))
  return (await endpointRoutesOwned(scopeOf(ctx))).filter((r) => !wanted.has(r.id))
}

/**
 * The cut-over: the workload's traffic goes to the endpoints only once the gate opens (healthy appliances in
 * every routed AZ, by default), so a fleet that does not come up never takes traffic. Routes no longer asked
 * for are given back.
 */
export const endpointRoutesStep: Step = {
  id: 'routes',
  title: 'Routes to the GWLB endpoints (cut-over)',
  needs: ['endpoint-connections', 'target-group', 'auto-scaling-group', 'tgw-appliance-mode'],
  // Also with no --route: routes dropped from the settings (--route none) are given back.
  enabled: () => true,
  async find(ctx) {
    const found = await findRoutes(ctx, endpointRoutes(ctx), 'route')
    const dropped = (await droppedRoutes(ctx)).map((r) => `give back ${r.id.replace(':', ': ')} (no longer asked for)`)
    const gate = found.missing.length ? [`cut-over ${gateWords(ctx.options.cutoverGate, routedAzs(ctx))}`] : []
    return {resources: found.resources, missing: [...gate, ...found.missing, ...dropped]}
  },
  async create(ctx, found) {
    const wanted = endpointRoutes(ctx)
    if (found.resources.length < wanted.length)
      await awaitHealthyTargets(ctx.aws, required(ctx, 'target-group').id, routedAzs(ctx), ctx.options.cutoverGate, ctx.timing, ctx.progress)
    const routes = await ensureRoutes(ctx, wanted, 'route')
    await removeRoutes(scopeOf(ctx), await droppedRoutes(ctx))
    return done(routes)
  },
  owned: endpointRoutesOwned,
  remove: removeRoutes,
  expected: (spec) => spec.routes.length,
  report: async (_scope, found) => routeReport('Routes to the GWLB endpoints', found),
}

/** The appliance subnets' default routes, each to the NAT gateway of its AZ. */
export function egressRoutes(ctx: StepContext): ManagedRoute[] {
  const nats = ctx.states.get('nat-gateways')?.resources.filter((r) => r.type === 'nat-gateway') ?? []
  const tables = new Map<string, string>()
  return ctx.spec.applianceSubnets.map((subnetId) => {
    const subnet = ctx.topology.subnets.get(subnetId)!
    const table = subnet.routeTableId
    const main = ctx.topology.routeTables.find((t) => t.RouteTableId === table)?.Associations?.some((a) => a.Main && !a.SubnetId)
    const explicit = ctx.topology.routeTables.find((t) => t.RouteTableId === table)?.Associations?.some((a) => a.SubnetId === subnetId)
    if (!table || (main && !explicit))
      throw new UserError(`appliance subnet ${subnetId} uses the VPC's main route table`, 'give each appliance subnet a route table of its own, so that its default route can go to the NAT gateway of its AZ')
    const other = tables.get(table)
    if (other && other !== subnet.az)
      throw new UserError(`appliance subnets in ${other} and ${subnet.az} share route table ${table}`, 'give each AZ\'s appliance subnet its own route table')
    tables.set(table, subnet.az)
    const nat = nats.find((n) => n.az === subnet.az)
    return {routeTableId: table, cidr: '0.0.0.0/0', target: {NatGatewayId: nat?.id ?? `(NAT gateway in ${subnet.az})`}}
  }).filter((r, i, all) => all.findIndex((x) => x.routeTableId === r.routeTableId) === i)
}

export const egressRoutesStep: Step = {
  id: 'egress-routes',
  title: 'Appliance default routes to the NAT gateways',
  needs: ['nat-gateways'],
  enabled: (spec) => spec.natGateways,
  find: async (ctx) => findRoutes(ctx, egressRoutes(ctx), 'egress-route'),
  create: async (ctx) => done(await ensureRoutes(ctx, egressRoutes(ctx), 'egress-route')),
  owned: async (scope) => routesTo(scope, new Set((await natGatewaysOf(scope)).map((n) => n.NatGatewayId!)), 'egress-route'),
  remove: removeRoutes,
  expected: (spec) => new Set(spec.applianceSubnets).size,
  report: async (_scope, found) => routeReport('Appliance default routes', found),
}
