import type {VpcEndpoint} from '@aws-sdk/client-ec2'
import {AcceptVpcEndpointConnectionsCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DeleteVpcEndpointServiceConfigurationsCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointServicePermissionsCommand, DescribeVpcEndpointsCommand, ModifyVpcEndpointServiceConfigurationCommand, ModifyVpcEndpointServicePermissionsCommand} from '../../sdk/ec2.js'
import type {AwsClients} from '../clients.js'
import {principalArn} from '../spec.js'
import {done, initCommand, names, plainReport, remember, required, type Resource, type Scope, type Step, type StepContext, type StepReport} from '../step.js'
import {loadBalancer} from './load-balancer.js'
import {DEPLOYMENT_TAG, deploymentFilter, tagSpecifications, tagValue} from '../tags.js'
import {waitFor} from '../wait.js'

/** Who may connect endpoints to the service: the flags' principals, else this account. */
const principals = (ctx: StepContext) =>
  (ctx.spec.allowedPrincipals.length ? ctx.spec.allowedPrincipals : [ctx.topology.account]).map((p) => principalArn(p, ctx.topology.partition))

async function ourService(aws: AwsClients, deployment: string) {
  const {ServiceConfigurations = []} = await aws.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))
  return ServiceConfigurations.find((s) => tagValue(s.Tags, DEPLOYMENT_TAG) === deployment && !['Deleting', 'Deleted', 'Failed'].includes(s.ServiceState ?? ''))
}

/** Within a status run: the deployment's endpoint service and endpoints, read once for every step that asks. */
const serviceOf = (scope: Scope) => remember(scope, 'endpoint-service', () => ourService(scope.aws, scope.deployment))
export const vpcEndpointsOf = (scope: Scope) => remember(scope, 'vpc-endpoints', () => taggedEndpoints(scope.aws, scope.deployment))
export const endpointsOf = async (scope: Scope) => (await vpcEndpointsOf(scope)).filter((e) => e.VpcEndpointType === 'GatewayLoadBalancer')

export interface EndpointStatus {
  id: string
  subnet?: string
  state: string
  connection?: string
}

/** Principals the service should allow and does not, and those it allows that are no longer asked for. */
async function principalChanges(ctx: StepContext, serviceId: string): Promise<{absent: string[]; extra: string[]}> {
  const {AllowedPrincipals = []} = await ctx.aws.ec2.send(new DescribeVpcEndpointServicePermissionsCommand({ServiceId: serviceId}))
  const allowed = AllowedPrincipals.map((a) => a.Principal!)
  return {absent: principals(ctx).filter((p) => !allowed.includes(p)), extra: allowed.filter((p) => !principals(ctx).includes(p))}
}

/**
 * A service left with the ARN of a load balancer that was deleted (and made again by a later run) sends the
 * endpoints' traffic nowhere: it gets the deployment's load balancer, and loses the ones it no longer has.
 */
async function repoint(ctx: StepContext, serviceId: string): Promise<void> {
  const lb = required(ctx, 'load-balancer').id
  const {ServiceConfigurations = []} = await ctx.aws.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({ServiceIds: [serviceId]}))
  const present = ServiceConfigurations[0]?.GatewayLoadBalancerArns ?? []
  const stale = present.filter((arn) => arn !== lb)
  if (present.includes(lb) && !stale.length) return
  await ctx.aws.ec2.send(new ModifyVpcEndpointServiceConfigurationCommand({
    ServiceId: serviceId, ...(present.includes(lb) ? {} : {AddGatewayLoadBalancerArns: [lb]}), ...(stale.length ? {RemoveGatewayLoadBalancerArns: stale} : {}),
  }))
}

export const endpointService: Step = {
  id: 'endpoint-service',
  title: 'VPC endpoint service',
  needs: ['load-balancer'],
  enabled: () => true,

  async find(ctx) {
    const service = await ourService(ctx.aws, ctx.spec.name)
    if (!service) return {resources: [], missing: [`endpoint service for the GWLB (acceptance required; principals ${principals(ctx).join(', ')})`]}
    const {absent, extra} = await principalChanges(ctx, service.ServiceId!)
    const lb = ctx.states.get('load-balancer')?.resources[0]
    const stale = (service.GatewayLoadBalancerArns ?? []).filter((arn) => arn !== lb?.id)
    const repoint = !lb || stale.length ? [`load balancer ${names(ctx.spec, ctx.topology.region).loadBalancer} in place of ${stale.join(', ') || 'none'}`] : []
    return {
      resources: [{type: 'endpoint-service', id: service.ServiceId!, name: service.ServiceName}],
      missing: [...repoint, ...absent.map((p) => `allow principal ${p}`), ...extra.map((p) => `no longer allow principal ${p}`)],
    }
  },

  async create(ctx, found) {
    let resource = found.resources[0]
    if (!resource) {
      const {ServiceConfiguration} = await ctx.aws.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({
        GatewayLoadBalancerArns: [required(ctx, 'load-balancer').id],
        AcceptanceRequired: true,
        TagSpecifications: tagSpecifications('vpc-endpoint-service', ctx.spec.name, `gwlb-${ctx.spec.name}`),
      }))
      resource = {type: 'endpoint-service', id: ServiceConfiguration!.ServiceId!, name: ServiceConfiguration!.ServiceName}
    } else await repoint(ctx, resource.id)
    const {extra} = await principalChanges(ctx, resource.id)
    await ctx.aws.ec2.send(new ModifyVpcEndpointServicePermissionsCommand({
      ServiceId: resource.id, AddAllowedPrincipals: principals(ctx), ...(extra.length ? {RemoveAllowedPrincipals: extra} : {}),
    }))
    return done([resource])
  },

  async owned(scope) {
    const service = await serviceOf(scope)
    return service ? [{type: 'endpoint-service', id: service.ServiceId!, name: service.ServiceName}] : []
  },

  /** A service that does not send to the deployment's load balancer (it was replaced): the endpoints lead nowhere. */
  async report(scope, found) {
    const [service, [lb]] = await Promise.all([serviceOf(scope), loadBalancer.owned(scope)])
    const arns = service?.GatewayLoadBalancerArns ?? []
    const problems = lb && !(arns.length === 1 && arns[0] === lb.id)
      ? [`endpoint service ${found[0]!.id} sends to ${arns.join(', ') || 'no load balancer'}, not to load balancer ${lb.name}: the endpoints' traffic reaches no appliance (${initCommand(scope)} puts ${lb.name} in its place)`]
      : []
    return {...plainReport(endpointService.title, found), problems}
  },

  async remove(scope, owned) {
    if (owned.length) await scope.aws.ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ServiceIds: owned.map((r) => r.id)}))
  },
}

const GONE = new Set(['deleting', 'deleted', 'rejected', 'failed', 'expired'])

/** AWS answers `pendingAcceptance`, `available`…; the SDK's enum spells them capitalised: compare loosely. */
export const stateOf = (e: {State?: string; VpcEndpointState?: string}) => (e.State ?? e.VpcEndpointState ?? '').toLowerCase()

/** Every VPC endpoint of this deployment, of any type, not on its way out. */
export async function taggedEndpoints(aws: AwsClients, deployment: string): Promise<VpcEndpoint[]> {
  const {VpcEndpoints = []} = await aws.ec2.send(new DescribeVpcEndpointsCommand({Filters: [deploymentFilter(deployment)]}))
  return VpcEndpoints.filter((e) => !GONE.has(stateOf(e)) && tagValue(e.Tags, DEPLOYMENT_TAG) === deployment)
}

/** This deployment's GWLB endpoints (those not on their way out). */
export async function ourEndpoints(aws: AwsClients, deployment: string): Promise<VpcEndpoint[]> {
  return (await taggedEndpoints(aws, deployment)).filter((e) => e.VpcEndpointType === 'GatewayLoadBalancer')
}

const endpointResource = (ctx: StepContext, e: VpcEndpoint): Resource => {
  const az = ctx.topology.subnets.get(e.SubnetIds?.[0] ?? '')?.az
  return {type: 'vpc-endpoint', id: e.VpcEndpointId!, name: az && names(ctx.spec, ctx.topology.region).endpoint(az), az, detail: e.State}
}

export const endpoints: Step = {
  id: 'endpoints',
  title: 'GWLB endpoints',
  needs: ['endpoint-service'],
  enabled: () => true,

  async find(ctx) {
    const existing = await ourEndpoints(ctx.aws, ctx.spec.name)
    const resources = existing.map((e) => endpointResource(ctx, e))
    const missing = ctx.spec.endpointSubnets
      .filter((subnet) => !existing.some((e) => e.SubnetIds?.includes(subnet)))
      .map((subnet) => `endpoint in ${subnet} (${ctx.topology.subnets.get(subnet)?.az})`)
    return {resources, missing}
  },

  async create(ctx, found) {
    const service = required(ctx, 'endpoint-service')
    const existing = await ourEndpoints(ctx.aws, ctx.spec.name)
    for (const subnet of ctx.spec.endpointSubnets) {
      if (existing.some((e) => e.SubnetIds?.includes(subnet))) continue
      const az = ctx.topology.subnets.get(subnet)!.az
      const {VpcEndpoint} = await ctx.aws.ec2.send(new CreateVpcEndpointCommand({
        VpcEndpointType: 'GatewayLoadBalancer',
        VpcId: ctx.spec.vpcId,
        ServiceName: service.name,
        SubnetIds: [subnet],
        TagSpecifications: tagSpecifications('vpc-endpoint', ctx.spec.name, names(ctx.spec, ctx.topology.region).endpoint(az)),
      }))
      existing.push(VpcEndpoint!)
    }
    return done(found.resources.length === existing.length ? found.resources : existing.map((e) => endpointResource(ctx, e)))
  },

  async owned(scope) {
    return (await endpointsOf(scope)).map((e) => ({type: 'vpc-endpoint', id: e.VpcEndpointId!, detail: e.State}))
  },

  expected: (spec) => spec.endpointSubnets.length,

  /** Each endpoint and its connection; one waiting for acceptance comes with the command that accepts it. */
  async report(scope): Promise<StepReport> {
    const [endpoints, service] = await Promise.all([endpointsOf(scope), serviceOf(scope)])
    const {VpcEndpointConnections = []} = service
      ? await scope.aws.ec2.send(new DescribeVpcEndpointConnectionsCommand({Filters: [{Name: 'service-id', Values: [service.ServiceId!]}]}))
      : {}
    const detail: EndpointStatus[] = endpoints.map((e) => ({
      id: e.VpcEndpointId!, subnet: e.SubnetIds?.[0], state: e.State ?? 'unknown', connection: VpcEndpointConnections.find((c) => c.VpcEndpointId === e.VpcEndpointId)?.VpcEndpointState,
    }))
    const problems = endpoints.flatMap((e) =>
      stateOf(e) === 'pendingacceptance'
        ? [`endpoint ${e.VpcEndpointId} waits for acceptance: run ${initCommand(scope)}, or aws ec2 accept-vpc-endpoint-connections --service-id ${service?.ServiceId} --vpc-endpoint-ids ${e.VpcEndpointId}`]
        : stateOf(e) === 'available' ? [] : [`endpoint ${e.VpcEndpointId} is ${e.State}`])
    return {problems, hints: [], detail, summary: 'Endpoints:', table: [['endpoint', 'subnet', 'state', 'connection'], ...detail.map((e) => [e.id, e.subnet ?? '', e.state, e.connection ?? ''])]}
  },

  async remove(scope, owned) {
    if (owned.length === 0) return
    await scope.aws.ec2.send(new DeleteVpcEndpointsCommand({VpcEndpointIds: owned.map((r) => r.id)}))
    // The endpoint service can only go once no endpoint is connected to it.
    await waitFor(async () => ((await ourEndpoints(scope.aws, scope.deployment)).length ? undefined : true), {
      what: 'the GWLB endpoints to be deleted', timeoutMs: scope.timing.timeoutMs, intervalMs: scope.timing.pollMs, progress: (s) => scope.progress(`deleting, ${s}s`),
    })
  },
}

/** Nothing of its own: connections go with their endpoints (and are shown with them). */
const nothingOwned = {owned: async (_scope: Scope): Promise<Resource[]> => [], remove: async () => undefined, expected: () => 0}

/**
 * The endpoints' connections to the service: accepted here (acceptance is required so that nobody else's
 * endpoint can attach), then waited for until every endpoint is `available` (2-3 minutes on AWS).
 */
export const endpointConnections: Step = {
  id: 'endpoint-connections',
  title: 'Accept endpoint connections',
  needs: ['endpoints'],
  enabled: () => true,

  async find(ctx) {
    const waiting = (await ourEndpoints(ctx.aws, ctx.spec.name)).filter((e) => stateOf(e) !== 'available')
    const resources = (ctx.states.get('endpoints')?.resources ?? []).filter((r) => !waiting.some((w) => w.VpcEndpointId === r.id))
    const expected = ctx.spec.endpointSubnets.length
    const missing = waiting.map((e) => `${e.VpcEndpointId} ${stateOf(e) === 'pendingacceptance' ? 'accepted' : `available (now ${e.State})`}`)
    if (resources.length + waiting.length < expected) missing.push(`${expected - resources.length - waiting.length} endpoint(s) to be created, accepted and available`)
    return {resources: resources.map((r) => ({...r, type: 'endpoint-connection', detail: 'available'})), missing}
  },

  async create(ctx) {
    const service = required(ctx, 'endpoint-service')
    const wanted = new Set(ctx.states.get('endpoints')!.resources.map((r) => r.id))
    const available = await waitFor(async () => {
      const {VpcEndpointConnections = []} = await ctx.aws.ec2.send(new DescribeVpcEndpointConnectionsCommand({Filters: [{Name: 'service-id', Values: [service.id]}]}))
      const pending = VpcEndpointConnections.filter((c) => stateOf(c) === 'pendingacceptance' && wanted.has(c.VpcEndpointId!)).map((c) => c.VpcEndpointId!)
      if (pending.length) await ctx.aws.ec2.send(new AcceptVpcEndpointConnectionsCommand({ServiceId: service.id, VpcEndpointIds: pending}))
      const current = (await ourEndpoints(ctx.aws, ctx.spec.name)).filter((e) => wanted.has(e.VpcEndpointId!))
      const notYet = current.filter((e) => stateOf(e) !== 'available')
      if (notYet.length === 0 && current.length === wanted.size) return current
      ctx.progress(notYet.map((e) => `${e.VpcEndpointId} ${e.State}`).join(', '))
      return undefined
    }, {what: 'the GWLB endpoints to become available', timeoutMs: ctx.timing.timeoutMs, intervalMs: ctx.timing.pollMs})
    return done(available.map((e) => ({...endpointResource(ctx, e), type: 'endpoint-connection', detail: 'available'})))
  },

  ...nothingOwned,
}
