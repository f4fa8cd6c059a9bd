import {
  AssociateRouteTableCommand, AttachInternetGatewayCommand, CreateInternetGatewayCommand, CreateRouteCommand, CreateRouteTableCommand,
  CreateSubnetCommand, CreateTransitGatewayCommand, CreateTransitGatewayVpcAttachmentCommand, CreateVpcCommand, DescribeTransitGatewayVpcAttachmentsCommand,
  type TransitGatewayVpcAttachment,
} from '@aws-sdk/client-ec2'
import type {AwsClients} from '../../src/aws/clients.js'
import {TEST_REGION} from './moto.js'

export interface Network {
  vpcId: string
  /** Per AZ (a, b): public (NAT) subnets, appliance subnets, endpoint subnets, workload subnets. */
  publicSubnets: string[]
  applianceSubnets: string[]
  endpointSubnets: string[]
  workloadSubnets: string[]
  applianceRouteTables: string[]
  workloadRouteTables: string[]
  publicRouteTable: string
  igwId: string
}

/**
 * What a network team has before gwlb: a VPC with an internet gateway, public subnets, and per AZ a private
 * appliance subnet, an endpoint subnet and a workload subnet, each private one with its own route table.
 */
export async function makeNetwork(aws: AwsClients, cidr = '10.0.0.0/16'): Promise<Network> {
  const prefix = cidr.split('.').slice(0, 2).join('.')
  const {Vpc} = await aws.ec2.send(new CreateVpcCommand({CidrBlock: cidr}))
  const vpcId = Vpc!.VpcId!
  const {InternetGateway} = await aws.ec2.send(new CreateInternetGatewayCommand({}))
  const igwId = InternetGateway!.InternetGatewayId!
  await aws.ec2.send(new AttachInternetGatewayCommand({InternetGatewayId: igwId, VpcId: vpcId}))
  const subnet = async (third: number, az: string) =>
    (await aws.ec2.send(new CreateSubnetCommand({VpcId: vpcId, CidrBlock: `${prefix}.${third}.0/24`, AvailabilityZone: `${TEST_REGION}${az}`}))).Subnet!.SubnetId!
  const table = async (subnets: string[]) => {
    const id = (await aws.ec2.send(new CreateRouteTableCommand({VpcId: vpcId}))).RouteTable!.RouteTableId!
    for (const s of subnets) await aws.ec2.send(new AssociateRouteTableCommand({RouteTableId: id, SubnetId: s}))
    return id
  }
  const azs = ['a', 'b']
  const publicSubnets = await Promise.all(azs.map((az, i) => subnet(i, az)))
  const applianceSubnets = await Promise.all(azs.map((az, i) => subnet(10 + i, az)))
  const endpointSubnets = await Promise.all(azs.map((az, i) => subnet(20 + i, az)))
  const workloadSubnets = await Promise.all(azs.map((az, i) => subnet(30 + i, az)))
  const publicRouteTable = await table(publicSubnets)
  await aws.ec2.send(new CreateRouteCommand({RouteTableId: publicRouteTable, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igwId}))
  const applianceRouteTables = [await table([applianceSubnets[0]!]), await table([applianceSubnets[1]!])]
  const workloadRouteTables = [await table([workloadSubnets[0]!]), await table([workloadSubnets[1]!])]
  await table(endpointSubnets)
  return {vpcId, publicSubnets, applianceSubnets, endpointSubnets, workloadSubnets, applianceRouteTables, workloadRouteTables, publicRouteTable, igwId}
}

/** `gwlb init --yes` flags for this network. */
export function initFlags(net: Network, name = 'egress'): string[] {
  return [
    '--yes', '--name', name, '--vpc-id', net.vpcId,
    '--appliance-subnets', net.applianceSubnets.join(','), '--endpoint-subnets', net.endpointSubnets.join(','),
    '--nat-subnets', net.publicSubnets.join(','),
    '--route', `${net.workloadRouteTables[0]}=0.0.0.0/0`, '--route', `${net.workloadRouteTables[1]}=0.0.0.0/0`,
    '--poll-interval', '20',
  ]
}

/** Flags without every occurrence of `flag` and its value (e.g. initFlags() without its --route). */
export const dropFlag = (flags: string[], flag: string) => flags.filter((a, i) => a !== flag && flags[i - 1] !== flag)

/** A Transit Gateway attached to the network's endpoint subnets: its attachment id, and a reader of the attachment. */
export async function attachTransitGateway(aws: AwsClients, net: Network): Promise<{id: string; attachment: () => Promise<TransitGatewayVpcAttachment>}> {
  const {TransitGateway} = await aws.ec2.send(new CreateTransitGatewayCommand({}))
  const {TransitGatewayVpcAttachment} = await aws.ec2.send(new CreateTransitGatewayVpcAttachmentCommand({
    TransitGatewayId: TransitGateway!.TransitGatewayId, VpcId: net.vpcId, SubnetIds: net.endpointSubnets,
  }))
  const id = TransitGatewayVpcAttachment!.TransitGatewayAttachmentId!
  const attachment = async () => (await aws.ec2.send(new DescribeTransitGatewayVpcAttachmentsCommand({TransitGatewayAttachmentIds: [id]}))).TransitGatewayVpcAttachments![0]!
  return {id, attachment}
}
