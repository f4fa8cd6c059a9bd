import type {RouteTable, Tag} from '@aws-sdk/client-ec2'
import {DescribeRouteTablesCommand, DescribeSubnetsCommand, DescribeVpcsCommand} from '../sdk/ec2.js'
import type {AwsClients} from './clients.js'
import {explainAwsError} from './errors.js'

/** What the wizard offers, read live from the account. */
export interface VpcChoice {
  id: string
  name?: string
  cidr: string
}

export interface SubnetChoice {
  id: string
  name?: string
  az: string
  cidr: string
  public: boolean
}

export interface RouteTableChoice {
  id: string
  name?: string
  /** AZs of the subnets associated with it. */
  azs: string[]
  main: boolean
  /** The subnets that use it: associated with it, or (the main table) with none. */
  subnets: string[]
}

export const nameOf = (tags: Tag[] | undefined) => tags?.find((t) => t.Key === 'Name')?.Value

/** The route table a subnet uses: its own association, else the VPC's main table. */
export function routeTableOf(tables: RouteTable[], subnetId: string): RouteTable | undefined {
  return tables.find((t) => t.Associations?.some((a) => a.SubnetId === subnetId)) ?? tables.find((t) => t.Associations?.some((a) => a.Main))
}

/** A public subnet routes 0.0.0.0/0 to an internet gateway: where NAT gateways go. */
export function isPublic(table: RouteTable | undefined): boolean {
  return Boolean(table?.Routes?.some((r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.GatewayId?.startsWith('igw-')))
}

export async function listVpcs(aws: AwsClients): Promise<VpcChoice[]> {
  const {Vpcs = []} = await aws.ec2.send(new DescribeVpcsCommand({})).catch((e: unknown) => {
    throw explainAwsError(e, 'ec2:DescribeVpcs')
  })
  return Vpcs.map((v) => ({id: v.VpcId!, name: nameOf(v.Tags), cidr: v.CidrBlock!}))
}

export async function listSubnets(aws: AwsClients, vpcId: string): Promise<SubnetChoice[]> {
  const filter = [{Name: 'vpc-id', Values: [vpcId]}]
  const [{Subnets = []}, {RouteTables = []}] = await Promise.all([
    aws.ec2.send(new DescribeSubnetsCommand({Filters: filter})),
    aws.ec2.send(new DescribeRouteTablesCommand({Filters: filter})),
  ])
  return Subnets.map((s) => ({id: s.SubnetId!, name: nameOf(s.Tags), az: s.AvailabilityZone!, cidr: s.CidrBlock!, public: isPublic(routeTableOf(RouteTables, s.SubnetId!))}))
    .sort((a, b) => a.az.localeCompare(b.az) || a.cidr.localeCompare(b.cidr))
}

export async function listRouteTables(aws: AwsClients, vpcId: string, subnets: SubnetChoice[]): Promise<RouteTableChoice[]> {
  const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({Filters: [{Name: 'vpc-id', Values: [vpcId]}]}))
  return RouteTables.map((t) => ({
    id: t.RouteTableId!,
    name: nameOf(t.Tags),
    main: Boolean(t.Associations?.some((a) => a.Main)),
    azs: [...new Set((t.Associations ?? []).map((a) => subnets.find((s) => s.id === a.SubnetId)?.az).filter((az): az is string => Boolean(az)))],
    subnets: subnets.filter((s) => routeTableOf(RouteTables, s.id) === t).map((s) => s.id),
  }))
}
