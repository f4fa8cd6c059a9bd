import {DescribeAutoScalingGroupsCommand} from '@aws-sdk/client-auto-scaling'
import {
  DescribeAddressesCommand, DescribeLaunchTemplatesCommand, DescribeNatGatewaysCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand,
  DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointsCommand,
} from '@aws-sdk/client-ec2'
import {DescribeListenersCommand, DescribeLoadBalancersCommand, DescribeTargetGroupsCommand} from '@aws-sdk/client-elastic-load-balancing-v2'
import {ListInstanceProfilesCommand, ListRolesCommand} from '@aws-sdk/client-iam'
import {ListBucketsCommand} from '@aws-sdk/client-s3'
import type {AwsClients} from '../../src/aws/clients.js'

const byTag = (name: string) => [{Name: 'tag:gwlb:deployment', Values: [name]}]
const tagged = (tags: {Key?: string; Value?: string}[] | undefined, name: string) => tags?.some((t) => t.Key === 'gwlb:deployment' && t.Value === name)

/**
 * How many resources of each type a deployment has, read with plain describe calls written apart from the
 * code under test; load balancers and target groups are counted by name, so a duplicate shows.
 */
/** Whether an inventory counts nothing at all. */
export const nothing = (counts: Record<string, number>): boolean => Object.values(counts).every((n) => n === 0)

export async function inventory(aws: AwsClients, name: string): Promise<Record<string, number>> {
  const ec2 = aws.ec2
  const [sgs, endpoints, services, nats, eips, lts, lbs, tgs, asgs, roles, profiles, tables, buckets] = await Promise.all([
    ec2.send(new DescribeSecurityGroupsCommand({Filters: byTag(name)})),
    ec2.send(new DescribeVpcEndpointsCommand({Filters: byTag(name)})),
    ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({})),
    ec2.send(new DescribeNatGatewaysCommand({Filter: [...byTag(name), {Name: 'state', Values: ['pending', 'available']}]})),
    ec2.send(new DescribeAddressesCommand({Filters: byTag(name)})),
    ec2.send(new DescribeLaunchTemplatesCommand({Filters: byTag(name)})),
    aws.elb.send(new DescribeLoadBalancersCommand({})),
    aws.elb.send(new DescribeTargetGroupsCommand({})),
    aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({})),
    aws.iam.send(new ListRolesCommand({})),
    aws.iam.send(new ListInstanceProfilesCommand({})),
    ec2.send(new DescribeRouteTablesCommand({})),
    aws.s3.send(new ListBucketsCommand({})),
  ])
  const ourEndpointIds = new Set((endpoints.VpcEndpoints ?? []).filter((e) => tagged(e.Tags, name) && !['deleted', 'deleting'].includes((e.State ?? '').toLowerCase())).map((e) => e.VpcEndpointId))
  const ourNatIds = new Set((nats.NatGateways ?? []).filter((n) => tagged(n.Tags, name)).map((n) => n.NatGatewayId))
  const routes = (tables.RouteTables ?? []).flatMap((t) => t.Routes ?? [])
  const lbArns = (lbs.LoadBalancers ?? []).filter((l) => l.LoadBalancerName === `gwlb-${name}`).map((l) => l.LoadBalancerArn!)
  const listeners = await Promise.all(lbArns.map((arn) => aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: arn}))))
  return {
    'security-group': (sgs.SecurityGroups ?? []).filter((g) => tagged(g.Tags, name)).length,
    'iam-role': (roles.Roles ?? []).filter((r) => r.RoleName?.startsWith(`gwlb-${name}-`)).length,
    'instance-profile': (profiles.InstanceProfiles ?? []).filter((p) => p.InstanceProfileName?.startsWith(`gwlb-${name}-`)).length,
    'target-group': (tgs.TargetGroups ?? []).filter((t) => t.TargetGroupName === `gwlb-${name}`).length,
    'load-balancer': lbArns.length,
    listener: listeners.reduce((n, l) => n + (l.Listeners?.length ?? 0), 0),
    'endpoint-service': (services.ServiceConfigurations ?? []).filter((s) => tagged(s.Tags, name) && s.ServiceState !== 'Deleted').length,
    'vpc-endpoint': ourEndpointIds.size,
    'route-to-endpoint': routes.filter((r) => ourEndpointIds.has(r.GatewayId)).length,
    'nat-gateway': ourNatIds.size,
    'elastic-ip': (eips.Addresses ?? []).filter((a) => tagged(a.Tags, name)).length,
    'route-to-nat': routes.filter((r) => ourNatIds.has(r.NatGatewayId)).length,
    'launch-template': (lts.LaunchTemplates ?? []).filter((t) => tagged(t.Tags, name)).length,
    'auto-scaling-group': (asgs.AutoScalingGroups ?? []).filter((g) => tagged(g.Tags, name)).length,
    's3-bucket': (buckets.Buckets ?? []).filter((b) => b.Name?.startsWith(`gwlb-${name}-123456789012-`)).length,
  }
}

/** What inventory() counts for a whole deployment of initFlags() on makeNetwork(): two of each AZ-bound resource. */
export const WHOLE_DEPLOYMENT = {
  'security-group': 1, 'iam-role': 1, 'instance-profile': 1, 'target-group': 1, 'load-balancer': 1, listener: 1, 'endpoint-service': 1,
  'vpc-endpoint': 2, 'route-to-endpoint': 2, 'nat-gateway': 2, 'elastic-ip': 2, 'route-to-nat': 2, 'launch-template': 1, 'auto-scaling-group': 1, 's3-bucket': 1,
}
