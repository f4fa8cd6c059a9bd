import {AllocateAddressCommand, CreateNatGatewayCommand, DescribeAddressesCommand, DescribeNatGatewaysCommand, type Address, type NatGateway} from '@aws-sdk/client-ec2'
import {done, names, type Resource, type Step, type StepContext} from '../step.js'
import {DEPLOYMENT_TAG, deploymentFilter, tagSpecifications, tagValue} from '../tags.js'
import {waitFor} from '../wait.js'

const LIVE = ['pending', 'available']

async function ourNatGateways(ctx: StepContext): Promise<NatGateway[]> {
  const {NatGateways = []} = await ctx.aws.ec2.send(new DescribeNatGatewaysCommand({
    Filter: [deploymentFilter(ctx.spec.name), {Name: 'vpc-id', Values: [ctx.spec.vpcId]}, {Name: 'state', Values: LIVE}],
  }))
  // The tag filter narrows the call; the check here keeps another deployment's gateways out regardless.
  return NatGateways.filter((n) => tagValue(n.Tags, DEPLOYMENT_TAG) === ctx.spec.name)
}

async function ourAddresses(ctx: StepContext): Promise<Address[]> {
  const {Addresses = []} = await ctx.aws.ec2.send(new DescribeAddressesCommand({Filters: [deploymentFilter(ctx.spec.name)]}))
  return Addresses.filter((a) => tagValue(a.Tags, DEPLOYMENT_TAG) === ctx.spec.name)
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
    const [nats, addresses] = await Promise.all([ourNatGateways(ctx), ourAddresses(ctx)])
    const missing = [...natSubnetsByAz(ctx)]
      .filter(([, subnet]) => !nats.some((n) => n.SubnetId === subnet && n.State === 'available'))
      .map(([az, subnet]) => `NAT gateway + Elastic IP in ${subnet} (${az})${nats.some((n) => n.SubnetId === subnet) ? ', pending' : ''}`)
    return {resources: resourcesOf(ctx, nats, addresses), missing}
  },

  async create(ctx) {
    const nats = await ourNatGateways(ctx)
    const addresses = await ourAddresses(ctx)
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
      const current = await ourNatGateways(ctx)
      const waiting = current.filter((n) => n.State !== 'available')
      if (waiting.length === 0) return current
      ctx.progress(`${waiting.length} NAT gateway(s) pending`)
      return undefined
    }, {what: 'the NAT gateways to become available', timeoutMs: ctx.timing.timeoutMs, intervalMs: ctx.timing.pollMs})
    return done(resourcesOf(ctx, ready, await ourAddresses(ctx)))
  },
}
