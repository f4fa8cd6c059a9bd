import type {Address, NatGateway} from '@aws-sdk/client-ec2'
import {AllocateAddressCommand, CreateNatGatewayCommand, DeleteNatGatewayCommand, DescribeAddressesCommand, DescribeNatGatewaysCommand, ReleaseAddressCommand} from '../../sdk/ec2.js'
import type {AwsClients} from '../clients.js'
import {done, names, remember, unlessNotFound, type Resource, type Scope, type Step, type StepContext, type StepReport} from '../step.js'
import {DEPLOYMENT_TAG, deploymentFilter, tagSpecifications, tagValue} from '../tags.js'
import {waitFor} from '../wait.js'

const LIVE = ['pending', 'available']

export async function ourNatGateways(aws: AwsClients, deployment: string, states = LIVE): Promise<NatGateway[]> {
  const {NatGateways = []} = await aws.ec2.send(new DescribeNatGatewaysCommand({Filter: [deploymentFilter(deployment), {Name: 'state', Values: states}]}))
  // The tag filter narrows the call; the check here keeps another deployment's gateways out regardless.
  return NatGateways.filter((n) => tagValue(n.Tags, DEPLOYMENT_TAG) === deployment && states.includes(n.State ?? ''))
}

/** Within a status run, read once (in every state) for the NAT gateways' step and the egress routes'. */
export const natGatewaysOf = async (scope: Scope, states = LIVE) =>
  (await remember(scope, 'nat-gateways', () => ourNatGateways(scope.aws, scope.deployment, [...LIVE, 'failed', 'deleting'])))
    .filter((n) => states.includes(n.State ?? ''))

export interface NatStatus {
  id: string
  subnet?: string
  state: string
  elasticIp?: string
}

async function ourAddresses(aws: AwsClients, deployment: string): Promise<Address[]> {
  const {Addresses = []} = await aws.ec2.send(new DescribeAddressesCommand({Filters: [deploymentFilter(deployment)]}))
  return Addresses.filter((a) => tagValue(a.Tags, DEPLOYMENT_TAG) === deployment)
}

/** The NAT subnet of each appliance AZ. */
const natSubnetsByAz = (ctx: StepContext) => new Map(ctx.spec.natSubnets.map((id) => [ctx.topology.subnets.get(id)!.az, id]))

function resourcesOf(ctx: StepContext, nats: NatGateway[], addresses: Address[]): Resource[] {
  return nats.flatMap((nat) => {
    const az = ctx.topology.subnets.get(nat.SubnetId!)?.az
    const allocation = nat.NatGatewayAddresses?.[0]?.AllocationId
    const address = addresses.find((a) => a.AllocationId === allocation)
    return [
      {type: 'nat-gateway', id: nat.NatGatewayId!, name: az && names(ctx.spec, ctx.topology.region).nat(az), az, detail: nat.State},
      ...(address ? [{type: 'elastic-ip', id: address.AllocationId!, name: address.PublicIp, az, detail: address.PublicIp}] : []),
    ]
  })
}

/** One NAT gateway per appliance AZ, each with its Elastic IP: the fleet's fixed egress addresses. */
export const natGateways: Step = {
  id: 'nat-gateways',
  title: 'NAT gateways with Elastic IPs',
  needs: [],
  enabled: (spec) => spec.natGateways,

  async find(ctx) {
    const [nats, addresses] = await Promise.all([ourNatGateways(ctx.aws, ctx.spec.name), ourAddresses(ctx.aws, ctx.spec.name)])
    const missing = [...natSubnetsByAz(ctx)]
      .filter(([, subnet]) => !nats.some((n) => n.SubnetId === subnet && n.State === 'available'))
      .map(([az, subnet]) => `NAT gateway + Elastic IP in ${subnet} (${az})${nats.some((n) => n.SubnetId === subnet) ? ', pending' : ''}`)
    return {resources: resourcesOf(ctx, nats, addresses), missing}
  },

  async create(ctx) {
    const nats = await ourNatGateways(ctx.aws, ctx.spec.name)
    const addresses = await ourAddresses(ctx.aws, ctx.spec.name)
    for (const [az, subnet] of natSubnetsByAz(ctx)) {
      if (nats.some((n) => n.SubnetId === subnet)) continue
      const name = names(ctx.spec, ctx.topology.region).nat(az)
      // An address allocated by an earlier, interrupted run is re-used rather than leaked.
      let address = addresses.find((a) => tagValue(a.Tags, 'Name') === name && !a.AssociationId)
      if (!address) {
        const allocated = await ctx.aws.ec2.send(new AllocateAddressCommand({Domain: 'vpc', TagSpecifications: tagSpecifications('elastic-ip', ctx.spec.name, name)}))
        address = {AllocationId: allocated.AllocationId, PublicIp: allocated.PublicIp}
        addresses.push(address)
      }
      const {NatGateway} = await ctx.aws.ec2.send(new CreateNatGatewayCommand({
        SubnetId: subnet,
        AllocationId: address.AllocationId,
        TagSpecifications: tagSpecifications('natgateway', ctx.spec.name, name),
      }))
      nats.push(NatGateway!)
    }
    const ready = await waitFor(async () => {
      const current = await ourNatGateways(ctx.aws, ctx.spec.name)
      const waiting = current.filter((n) => n.State !== 'available')
      if (waiting.length === 0) return current
      ctx.progress(`${waiting.length} NAT gateway(s) pending`)
      return undefined
    }, {what: 'the NAT gateways to become available', timeoutMs: ctx.timing.timeoutMs, intervalMs: ctx.timing.pollMs})
    return done(resourcesOf(ctx, ready, await ourAddresses(ctx.aws, ctx.spec.name)))
  },

  expected: (spec) => spec.natSubnets.length * 2, // a gateway and its address per AZ

  async report(scope): Promise<StepReport> {
    const nats = await natGatewaysOf(scope, [...LIVE, 'failed', 'deleting'])
    const detail: NatStatus[] = nats.map((n) => ({id: n.NatGatewayId!, subnet: n.SubnetId, state: n.State!, elasticIp: n.NatGatewayAddresses?.[0]?.PublicIp}))
    return {
      problems: detail.filter((n) => n.state !== 'available').map((n) => `NAT gateway ${n.id} is ${n.state}`), hints: [], detail,
      summary: 'NAT gateways (fixed egress addresses):', table: [['gateway', 'subnet', 'state', 'Elastic IP'], ...detail.map((n) => [n.id, n.subnet ?? '', n.state, n.elasticIp ?? ''])],
    }
  },

  async owned(scope) {
    const [nats, addresses] = await Promise.all([natGatewaysOf(scope, [...LIVE, 'deleting']), ourAddresses(scope.aws, scope.deployment)])
    return [
      ...nats.map((n) => ({type: 'nat-gateway', id: n.NatGatewayId!, detail: n.State})),
      ...addresses.map((a) => ({type: 'elastic-ip', id: a.AllocationId!, name: a.PublicIp, detail: a.PublicIp})),
    ]
  },

  async remove(scope, owned) {
    for (const r of owned.filter((x) => x.type === 'nat-gateway')) await scope.aws.ec2.send(new DeleteNatGatewayCommand({NatGatewayId: r.id})).catch(unlessNotFound())
    // An Elastic IP can only be released once its NAT gateway is gone.
    await waitFor(async () => ((await ourNatGateways(scope.aws, scope.deployment, [...LIVE, 'deleting'])).length ? undefined : true), {
      what: 'the NAT gateways to be deleted', timeoutMs: scope.timing.timeoutMs, intervalMs: scope.timing.pollMs, progress: (s) => scope.progress(`deleting, ${s}s`),
    })
    for (const r of owned.filter((x) => x.type === 'elastic-ip')) await scope.aws.ec2.send(new ReleaseAddressCommand({AllocationId: r.id})).catch(unlessNotFound())
  },
}
