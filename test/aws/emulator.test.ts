import {CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DescribeSubnetsCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand, AcceptVpcEndpointConnectionsCommand} from '@aws-sdk/client-ec2'
import {CreateLoadBalancerCommand, CreateTargetGroupCommand, DescribeTargetGroupsCommand} from '@aws-sdk/client-elastic-load-balancing-v2'
import {GetParameterCommand} from '@aws-sdk/client-ssm'
import {describe, expect, it} from 'vitest'
import {TEST_REGION, useMoto} from '../helpers/moto.js'

const {clients} = useMoto({resetEach: true})

async function vpcWithSubnets() {
  const aws = clients()
  const {Vpc} = await aws.ec2.send(new CreateVpcCommand({CidrBlock: '10.0.0.0/16'}))
  const subnets = await Promise.all(['a', 'b'].map((az, i) =>
    aws.ec2.send(new CreateSubnetCommand({VpcId: Vpc!.VpcId!, CidrBlock: `10.0.${i}.0/24`, AvailabilityZone: `${TEST_REGION}${az}`}))))
  return {aws, vpcId: Vpc!.VpcId!, subnetIds: subnets.map((s) => s.Subnet!.SubnetId!)}
}

describe('the AWS emulator fixture', () => {
  it('serves EC2 through the tool\'s own client factory: a VPC and its subnets in two AZs', async () => {
    const {aws, vpcId} = await vpcWithSubnets()
    const {Vpcs} = await aws.ec2.send(new DescribeVpcsCommand({VpcIds: [vpcId]}))
    expect(Vpcs?.[0]?.CidrBlock).toBe('10.0.0.0/16')
    const {Subnets} = await aws.ec2.send(new DescribeSubnetsCommand({Filters: [{Name: 'vpc-id', Values: [vpcId]}]}))
    expect(Subnets?.map((s) => s.AvailabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b'])
  })

  it('serves ELBv2: a GENEVE target group on UDP 6081 with an HTTP health check', async () => {
    const {aws, vpcId} = await vpcWithSubnets()
    await aws.elb.send(new CreateTargetGroupCommand({
      Name: 'fixture-tg', Protocol: 'GENEVE', Port: 6081, VpcId: vpcId, TargetType: 'instance',
      HealthCheckProtocol: 'HTTP', HealthCheckPort: '80', HealthCheckPath: '/',
    }))
    const {TargetGroups} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: ['fixture-tg']}))
    expect(TargetGroups?.[0]).toMatchObject({Protocol: 'GENEVE', Port: 6081, VpcId: vpcId, HealthCheckPort: '80'})
  })

  it('starts empty for each test: the reset removed the VPCs made before', async () => {
    const {Vpcs} = await clients().ec2.send(new DescribeVpcsCommand({Filters: [{Name: 'cidr', Values: ['10.0.0.0/16']}]}))
    expect(Vpcs).toEqual([])
  })

  it('is extended with the Canonical Ubuntu AMI parameter', async () => {
    const name = '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id'
    const {Parameter} = await clients().ssm.send(new GetParameterCommand({Name: name}))
    expect(Parameter?.Value).toMatch(/^ami-[0-9a-f]+$/)
  })

  it('is extended with GWLB endpoint connections: pendingAcceptance until accepted, each with an ENI', async () => {
    const {aws, vpcId, subnetIds} = await vpcWithSubnets()
    const {LoadBalancers} = await aws.elb.send(new CreateLoadBalancerCommand({Name: 'fixture-gwlb', Type: 'gateway', Subnets: subnetIds}))
    const {ServiceConfiguration} = await aws.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({
      GatewayLoadBalancerArns: [LoadBalancers![0]!.LoadBalancerArn!], AcceptanceRequired: true,
    }))
    const serviceId = ServiceConfiguration!.ServiceId!
    const {VpcEndpoint} = await aws.ec2.send(new CreateVpcEndpointCommand({
      VpcId: vpcId, ServiceName: ServiceConfiguration!.ServiceName!, VpcEndpointType: 'GatewayLoadBalancer', SubnetIds: [subnetIds[0]!],
    }))
    const endpointId = VpcEndpoint!.VpcEndpointId!
    expect(VpcEndpoint?.State).toBe('pendingAcceptance')
    expect(VpcEndpoint?.NetworkInterfaceIds).toHaveLength(1)

    const pending = await aws.ec2.send(new DescribeVpcEndpointConnectionsCommand({Filters: [{Name: 'service-id', Values: [serviceId]}]}))
    expect(pending.VpcEndpointConnections).toMatchObject([{VpcEndpointId: endpointId, VpcEndpointState: 'pendingAcceptance'}])

    const accepted = await aws.ec2.send(new AcceptVpcEndpointConnectionsCommand({ServiceId: serviceId, VpcEndpointIds: [endpointId, 'vpce-0000000000000000']}))
    expect(accepted.Unsuccessful?.map((u) => u.ResourceId)).toEqual(['vpce-0000000000000000'])
    const {VpcEndpoints} = await aws.ec2.send(new DescribeVpcEndpointsCommand({VpcEndpointIds: [endpointId]}))
    expect(VpcEndpoints?.[0]?.State).toBe('available')
  })
})
