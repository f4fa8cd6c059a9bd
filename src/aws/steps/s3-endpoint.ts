import type {VpcEndpoint} from '@aws-sdk/client-ec2'
import {CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointsCommand, ModifyVpcEndpointCommand} from '../../sdk/ec2.js'
import type {AwsClients} from '../clients.js'
import {done, names, plainReport, subnetsRemembered, type Step, type StepContext} from '../step.js'
import {DEPLOYMENT_TAG, tagSpecifications, tagValue} from '../tags.js'
import {vpcEndpointsOf} from './endpoints.js'
import {waitFor} from '../wait.js'
import {UserError} from '../../errors.js'

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

const routeToS3 = (table: string) => `route from ${table} to S3 through a gateway endpoint`

/** The route tables that no S3 gateway endpoint (anybody's) serves. */
const uncoveredBy = (endpoints: VpcEndpoint[], tables: string[]) => tables.filter((t) => !endpoints.some((e) => e.RouteTableIds?.includes(t)))

const ours = (e: VpcEndpoint, deployment: string) => tagValue(e.Tags, DEPLOYMENT_TAG) === deployment

/**
 * This deployment's S3 gateway endpoint, and the appliance route tables that no S3 gateway endpoint serves yet.
 * A table served by another deployment's endpoint is refused: its destroy would take this fleet's way to S3.
 */
async function coverage(ctx: StepContext): Promise<{mine?: VpcEndpoint; uncovered: string[]}> {
  const endpoints = await s3GatewayEndpoints(ctx.aws, ctx.spec.vpcId, ctx.topology.region)
  const tables = applianceTables(ctx)
  for (const e of endpoints) {
    const owner = tagValue(e.Tags, DEPLOYMENT_TAG)
    const shared = owner && owner !== ctx.spec.name && tables.find((t) => e.RouteTableIds?.includes(t))
    if (shared)
      throw new UserError(`${shared} reaches S3 through ${e.VpcEndpointId} of gwlb deployment ${owner}`,
        `two deployments cannot share appliance subnets' route tables: give --appliance-subnets with route tables of their own, or gwlb destroy --name ${owner} first`, 'refused')
  }
  return {mine: endpoints.find((e) => ours(e, ctx.spec.name)), uncovered: uncoveredBy(endpoints, tables)}
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
    return {resources: mine ? [resource(ctx, mine, [])] : [], missing: uncovered.map(routeToS3)}
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
  reportsWhenNone: true,

  /** An appliance route table without a way to S3 (its endpoint deleted by hand): appliances launched now could not fetch their software. */
  async report(scope, found) {
    const plain = plainReport(s3Endpoint.title, found)
    if (!scope.settings || scope.settings.natGateways) return plain
    const [{subnets}, endpoints] = await Promise.all([subnetsRemembered(scope, scope.settings.vpcId), s3GatewayEndpoints(scope.aws, scope.settings.vpcId, scope.region)])
    const tables = [...new Set(scope.settings.applianceSubnets.flatMap((id) => subnets.get(id)?.routeTableId ?? []))]
    return {...plain, missing: uncoveredBy(endpoints, tables).map(routeToS3)}
  },

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
