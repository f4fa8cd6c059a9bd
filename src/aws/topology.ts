import type {RouteTable} from '@aws-sdk/client-ec2'
import {DescribeImagesCommand, DescribeInstanceTypesCommand, DescribeKeyPairsCommand, DescribeRouteTablesCommand, DescribeSubnetsCommand, DescribeVpcsCommand} from '../sdk/ec2.js'
import {GetCallerIdentityCommand} from '../sdk/sts.js'
import {UserError} from '../errors.js'
import {natEgress} from '../mode.js'
import {isPublic, nameOf, routeTableOf} from './choices.js'
import type {AwsClients} from './clients.js'
import {explainAwsError} from './errors.js'
import type {DeploymentSpec} from './spec.js'
import {errorCode} from './wait.js'

export interface SubnetInfo {
  id: string
  az: string
  cidr: string
  name?: string
  /** Has a route to an internet gateway: a place for NAT gateways. */
  public: boolean
  /** Route table the subnet uses (its own association, else the VPC's main table). */
  routeTableId?: string
}

/** The live facts `init` builds on: account, VPC, its subnets and route tables, checked against the spec. */
export interface Topology {
  region: string
  account: string
  partition: string
  vpcId: string
  subnets: Map<string, SubnetInfo>
  routeTables: RouteTable[]
  /** AZ of each route in spec.routes (the AZ whose endpoint the route must use). */
  routeAzs: Map<string, string>
  /** CPU architecture of the instance type, for the matching Ubuntu AMI. */
  architecture: 'amd64' | 'arm64'
  warnings: string[]
}

export async function discoverTopology(aws: AwsClients, spec: DeploymentSpec): Promise<Topology> {
  const region = await aws.region()
  let identity
  try {
    identity = await aws.sts.send(new GetCallerIdentityCommand({}))
  } catch (error) {
    throw explainAwsError(error, 'sts:GetCallerIdentity')
  }
  const arn = identity.Arn ?? 'arn:aws:'
  const vpcs = await aws.ec2.send(new DescribeVpcsCommand({VpcIds: [spec.vpcId]})).catch((error: unknown) => {
    if (errorCode(error) === 'InvalidVpcID.NotFound') throw new UserError(`VPC ${spec.vpcId} does not exist in ${region}`, 'check --vpc-id and --region')
    throw explainAwsError(error, 'ec2:DescribeVpcs')
  })
  const vpc = vpcs.Vpcs?.[0]
  if (!vpc) throw new UserError(`VPC ${spec.vpcId} does not exist in ${region}`, 'check --vpc-id and --region')
  const {subnets, routeTables: RouteTables} = await subnetsOf(aws, spec.vpcId)
  const topology: Topology = {
    region,
    account: identity.Account!,
    partition: arn.split(':')[1] || 'aws',
    vpcId: spec.vpcId,
    subnets,
    routeTables: RouteTables,
    routeAzs: new Map(),
    architecture: 'amd64',
    warnings: [],
  }
  await checkSubnets(aws, topology, spec)
  await checkRoutes(aws, topology, spec)
  await checkInstanceType(aws, topology, spec)
  await Promise.all([checkImage(aws, topology, spec), checkKeyPair(aws, topology, spec)])
  return topology
}

/** A VPC's subnets, each with the route table it uses (its own or the main one), and the VPC's route tables. */
export async function subnetsOf(aws: AwsClients, vpcId: string): Promise<{subnets: Map<string, SubnetInfo>; routeTables: RouteTable[]}> {
  const vpcFilter = [{Name: 'vpc-id', Values: [vpcId]}]
  const [{Subnets = []}, {RouteTables = []}] = await Promise.all([
    aws.ec2.send(new DescribeSubnetsCommand({Filters: vpcFilter})),
    aws.ec2.send(new DescribeRouteTablesCommand({Filters: vpcFilter})),
  ])
  const subnets = new Map<string, SubnetInfo>()
  for (const s of Subnets) {
    const table = routeTableOf(RouteTables, s.SubnetId!)
    subnets.set(s.SubnetId!, {id: s.SubnetId!, az: s.AvailabilityZone!, cidr: s.CidrBlock!, name: nameOf(s.Tags), public: isPublic(table), routeTableId: table?.RouteTableId})
  }
  return {subnets, routeTables: RouteTables}
}

/** The instance type's CPU as EC2 names an image's architecture. */
const IMAGE_ARCHITECTURE = {amd64: 'x86_64', arm64: 'arm64'} as const

/** --ami-id must exist here and suit the instance type's CPU: else the Auto Scaling group fails at launch, long after. */
async function checkImage(aws: AwsClients, topology: Topology, spec: DeploymentSpec): Promise<void> {
  if (!spec.amiId) return
  const {Images = []} = await aws.ec2.send(new DescribeImagesCommand({ImageIds: [spec.amiId]})).catch((error: unknown) => {
    if (errorCode(error).startsWith('InvalidAMIID')) return {Images: []}
    throw explainAwsError(error, 'ec2:DescribeImages')
  })
  const image = Images[0]
  if (!image) throw new UserError(`AMI ${spec.amiId} does not exist in ${topology.region} (or is not shared with this account)`, 'check --ami-id and --region, or leave --ami-id out for Ubuntu 22.04')
  const wanted = IMAGE_ARCHITECTURE[topology.architecture]
  if (image.Architecture && image.Architecture !== wanted)
    throw new UserError(`AMI ${spec.amiId} is for ${image.Architecture}, instance type ${spec.instanceType} is ${wanted}`, 'pick an AMI and an instance type of the same CPU architecture')
}

async function checkKeyPair(aws: AwsClients, topology: Topology, spec: DeploymentSpec): Promise<void> {
  if (!spec.keyName) return
  const {KeyPairs = []} = await aws.ec2.send(new DescribeKeyPairsCommand({KeyNames: [spec.keyName]})).catch((error: unknown) => {
    if (errorCode(error) === 'InvalidKeyPair.NotFound') return {KeyPairs: []}
    throw explainAwsError(error, 'ec2:DescribeKeyPairs')
  })
  if (KeyPairs.length === 0) throw new UserError(`key pair ${spec.keyName} does not exist in ${topology.region}`, 'create or import it there (aws ec2 import-key-pair), or leave --key-name out')
}

async function checkInstanceType(aws: AwsClients, topology: Topology, spec: DeploymentSpec): Promise<void> {
  const {InstanceTypes = []} = await aws.ec2.send(new DescribeInstanceTypesCommand({InstanceTypes: [spec.instanceType as never]})).catch((error: unknown) => {
    if (errorCode(error).startsWith('InvalidInstanceType')) return {InstanceTypes: []}
    throw explainAwsError(error, 'ec2:DescribeInstanceTypes')
  })
  if (InstanceTypes.length === 0) throw new UserError(`instance type ${spec.instanceType} is not offered in ${topology.region}`, 'pick another --instance-type, e.g. c6i.large or c7g.large')
  if (InstanceTypes[0]!.ProcessorInfo?.SupportedArchitectures?.includes('arm64')) topology.architecture = 'arm64'
}

async function checkSubnets(aws: AwsClients, topology: Topology, spec: DeploymentSpec): Promise<void> {
  const lists: [string, string[]][] = [['--appliance-subnets', spec.applianceSubnets], ['--endpoint-subnets', spec.endpointSubnets]]
  if (spec.natGateways) lists.push(['--nat-subnets', spec.natSubnets])
  for (const [flag, ids] of lists) {
    const seen = new Map<string, string>()
    for (const id of ids) {
      const subnet = topology.subnets.get(id)
      if (!subnet) {
        const elsewhere = await aws.ec2.send(new DescribeSubnetsCommand({SubnetIds: [id]})).catch(() => undefined)
        const vpc = elsewhere?.Subnets?.[0]?.VpcId
        throw vpc
          ? new UserError(`subnet ${id} (${flag}) is in ${vpc}, not in ${topology.vpcId}`, `pick subnets of ${topology.vpcId}`)
          : new UserError(`subnet ${id} (${flag}) does not exist in ${topology.region}`, 'check the subnet ids and --region')
      }
      const other = seen.get(subnet.az)
      if (other) throw new UserError(`${flag}: ${other} and ${id} are both in ${subnet.az}`, 'give one subnet per Availability Zone')
      seen.set(subnet.az, id)
    }
  }
  const azs = (ids: string[]) => new Set(ids.map((id) => topology.subnets.get(id)!.az))
  const applianceAzs = azs(spec.applianceSubnets)
  for (const id of spec.endpointSubnets) {
    const az = topology.subnets.get(id)!.az
    if (!applianceAzs.has(az)) throw new UserError(`endpoint subnet ${id} is in ${az}, where there is no appliance subnet`, 'the GWLB must be in every AZ that has an endpoint: add an appliance subnet there')
  }
  if (spec.natGateways && natEgress(spec.mode)) {
    const natAzs = azs(spec.natSubnets)
    for (const az of applianceAzs) if (!natAzs.has(az)) throw new UserError(`no NAT subnet in ${az}`, 'give a public subnet per appliance AZ in --nat-subnets, or --no-nat-gateways')
    for (const id of spec.natSubnets)
      if (!topology.subnets.get(id)!.public) topology.warnings.push(`NAT subnet ${id} has no default route to an internet gateway: its NAT gateway will not reach the internet`)
  }
  if (!spec.natGateways && !spec.amiId)
    topology.warnings.push('without NAT gateways the appliances reach only their bucket (through an S3 gateway endpoint): their AMI must come with nftables, as the bootstrap cannot install it from a mirror')
  if (applianceAzs.size < 2) topology.warnings.push(`only one Availability Zone (${[...applianceAzs].join('')}): an AZ outage stops all traffic through the GWLB`)
}

/** The route tables of the deployment's own subnets, each with the first subnet that uses it. */
function ownTables(topology: Topology, spec: DeploymentSpec): Map<string, string> {
  const roles: [string, string[]][] = [['appliance', spec.applianceSubnets], ['endpoint', spec.endpointSubnets], ['NAT', spec.natGateways ? spec.natSubnets : []]]
  const own = new Map<string, string>()
  for (const [role, ids] of roles) {
    for (const id of ids) {
      const table = topology.subnets.get(id)?.routeTableId
      if (table && !own.has(table)) own.set(table, `${role} subnet ${id}`)
    }
  }
  return own
}

async function checkRoutes(aws: AwsClients, topology: Topology, spec: DeploymentSpec): Promise<void> {
  const endpointAzs = new Set(spec.endpointSubnets.map((id) => topology.subnets.get(id)!.az))
  const own = ownTables(topology, spec)
  for (const route of spec.routes) {
    const table = topology.routeTables.find((t) => t.RouteTableId === route.routeTableId)
    if (!table) throw await unknownRouteTable(aws, topology, route.routeTableId)
    // The appliances' egress, the endpoints' and the NAT gateways' own traffic would go back into the GWLB.
    const loop = own.get(route.routeTableId)
    if (loop)
      throw new UserError(`route table ${route.routeTableId} is the ${loop}'s: ${route.cidr} through the endpoint would send the deployment's own traffic back into the GWLB (a loop)`,
        'route only the workloads\' route tables in --route; the appliance, endpoint and NAT subnets keep their own routes')
    // The route table's subnets say its AZ; an edge (gateway) table is placed by the subnet the CIDR names.
    const subnetAzs = new Set((table.Associations ?? []).filter((a) => a.SubnetId).map((a) => topology.subnets.get(a.SubnetId!)?.az))
    const byCidr = [...topology.subnets.values()].find((s) => s.cidr === route.cidr)?.az
    const az = subnetAzs.size === 1 ? [...subnetAzs][0] : subnetAzs.size === 0 ? byCidr : undefined
    if (!az) throw new UserError(`cannot tell which AZ's endpoint ${route.routeTableId} should use`, 'associate the route table with subnets of one AZ (or route a subnet\'s CIDR in an edge table)')
    if (!endpointAzs.has(az)) throw new UserError(`route table ${route.routeTableId} is in ${az}, which has no endpoint subnet`, 'add an endpoint subnet in that AZ')
    topology.routeAzs.set(`${route.routeTableId}=${route.cidr}`, az)
  }
}

async function unknownRouteTable(aws: AwsClients, topology: Topology, id: string): Promise<UserError> {
  const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [id]})).catch(() => ({RouteTables: []}))
  const vpc = RouteTables[0]?.VpcId
  return vpc
    ? new UserError(`route table ${id} is in ${vpc}, not in ${topology.vpcId}`, 'pass route tables of the endpoints\' VPC in --route')
    : new UserError(`route table ${id} does not exist in ${topology.region}`, 'check the route table ids in --route and --region')
}
