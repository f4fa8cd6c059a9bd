import {CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointsCommand, ModifyVpcEndpointCommand, type VpcEndpoint} from '@aws-sdk/client-ec2'
import type {AwsClients} from '../clients.js'
import {done, names, type Step, type StepContext} from '../step.js'
import {DEPLOYMENT_TAG, tagSpecifications, tagValue} from '../tags.js'
import {vpcEndpointsOf} from './endpoints.js'
import {waitFor} from '../wait.js'

const s3Service = (region: string) => `com.amazonaws.${region}.s3`
const live = (e: VpcEndpoint) => !['deleting', 'deleted', 'failed', 'rejected'].includes((e.State ?? '').toLowerCase())

/** The route tables of the appliance subnets: where the way to S3 must be. */
const applianceTables = (ctx: StepContext) =>
  [...new Set(ctx.spec.applianceSubnets.map((id) => ctx.topology.subnets.get(id)?.routeTableId).filter((t): t is string => Boolean(t)))]

async function s3GatewayEndpoints(aws: AwsClients, vpcId: string, region: string): Promise<VpcEndpoint[]> {
  const {VpcEndpoints = []} = await aws.ec2.send(new DescribeVpcEndpointsCommand({Filters: [
    {Name: 'vpc-id', Values: [vpcId]}, {Name: 'service-name', Values: [s3Service(region)]}, {Name: 'vpc-endpoint-type', Values: ['Gateway']},
  ]}))
  return VpcEndpoints.filter(live)
}

const ours = (e: VpcEndpoint, deployment: string) => tagValue(e.Tags, DEPLOYMENT_TAG) === deployment

/** This deployment's S3 gateway endpoint, and the appliance route tables that no S3 gateway endpoint serves yet. */
async function coverage(ctx: StepContext): Promise<{mine?: VpcEndpoint; uncovered: string[]}> {
  const endpoints = await s3GatewayEndpoints(ctx.aws, ctx.spec.vpcId, ctx.topology.region)
  const covered = new Set(endpoints.flatMap((e) => e.RouteTableIds ?? []))
  return {mine: endpoints.find((e) => ours(e, ctx.spec.name)), uncovered: applianceTables(ctx).filter((t) => !covered.has(t))}
}

const resource = (ctx: StepContext, e: VpcEndpoint, added: string[]) =>
  ({type: 'vpc-endpoint', id: e.VpcEndpointId!, name: names(ctx.spec, ctx.topology.region).s3Endpoint, detail: `S3, ${[...(e.RouteTableIds ?? []), ...added].join(', ')}`})

/**
 * Without NAT gateways the appliances reach the deployment's bucket through an S3 gateway endpoint on their
 * subnets' route tables. A table that already has one (anybody's) is left as it is; a table can hold only one.
 */
export const s3Endpoint: Step = {
  id: 's3-endpoint',
  title: 'S3 gateway endpoint for the appliance subnets',
  needs: [],
  enabled: (spec) => !spec.natGateways,

  async find(ctx) {
    const {mine, uncovered} = await coverage(ctx)
    return {resources: mine ? [resource(ctx, mine, [])] : [], missing: uncovered.map((t) => `route from ${t} to S3 through a gateway endpoint`)}
  },

  async create(ctx) {
    let {mine, uncovered} = await coverage(ctx)
    if (mine && uncovered.length) await ctx.aws.ec2.send(new ModifyVpcEndpointCommand({VpcEndpointId: mine.VpcEndpointId, AddRouteTableIds: uncovered}))
    else if (uncovered.length) {
      mine = (await ctx.aws.ec2.send(new CreateVpcEndpointCommand({
        VpcEndpointType: 'Gateway', VpcId: ctx.spec.vpcId, ServiceName: s3Service(ctx.topology.region), RouteTableIds: uncovered,
        TagSpecifications: tagSpecifications('vpc-endpoint', ctx.spec.name, names(ctx.spec, ctx.topology.region).s3Endpoint),
      }))).VpcEndpoint
      uncovered = []
    }
    return done(mine ? [resource(ctx, mine, uncovered)] : [])
  },

  // Not owned whenever it was there before (anybody's endpoint, appliance mode already on): nothing to miss.
  expected: () => 0,

  async owned(scope) {
    return (await vpcEndpointsOf(scope)).filter((e) => e.VpcEndpointType === 'Gateway').map((e) => ({type: 'vpc-endpoint', id: e.VpcEndpointId!, detail: 'S3 gateway'}))
  },

  async remove(scope, owned) {
    if (owned.length === 0) return
    await scope.aws.ec2.send(new DeleteVpcEndpointsCommand({VpcEndpointIds: owned.map((r) => r.id)}))
    await waitFor(async () => ((await s3Endpoint.owned({...scope, cache: undefined})).length ? undefined : true), {
      what: 'the S3 gateway endpoint to be deleted', timeoutMs: scope.timing.timeoutMs, intervalMs: scope.timing.pollMs,
    })
  },
}
