import {CreateVpcEndpointCommand, DescribeVpcEndpointsCommand} from '@aws-sdk/client-ec2'
import {describe, expect, it} from 'vitest'
import type {InitResult} from '../../src/aws/deployment.js'
import {gwlbJson} from '../helpers/cli.js'
import {useMoto} from '../helpers/moto.js'
import {makeNetwork} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

const s3Endpoints = async (vpcId: string) =>
  (await clients().ec2.send(new DescribeVpcEndpointsCommand({Filters: [{Name: 'vpc-id', Values: [vpcId]}, {Name: 'vpc-endpoint-type', Values: ['Gateway']}]})))
    .VpcEndpoints!.filter((e) => !['deleted', 'deleting'].includes((e.State ?? '').toLowerCase()))

const flags = (net: Awaited<ReturnType<typeof makeNetwork>>) => [
  '--yes', '--name', 'private', '--vpc-id', net.vpcId, '--appliance-subnets', net.applianceSubnets.join(','),
  '--endpoint-subnets', net.endpointSubnets.join(','), '--no-nat-gateways', '--poll-interval', '20',
]

describe('appliances without NAT gateways reach their bucket through an S3 gateway endpoint', () => {
  it('is made on the appliance subnets\' route tables, tagged, and removed by destroy', async () => {
    const net = await makeNetwork(clients())
    const result = gwlbJson<InitResult>(['init', ...flags(net)])
    expect(result.steps.find((s) => s.id === 's3-endpoint')?.outcome).toBe('created')
    const [endpoint, ...others] = await s3Endpoints(net.vpcId)
    expect(others).toEqual([])
    expect(endpoint).toMatchObject({ServiceName: 'com.amazonaws.us-east-1.s3', Tags: expect.arrayContaining([{Key: 'gwlb:deployment', Value: 'private'}])})
    expect(endpoint!.RouteTableIds?.sort()).toEqual([...net.applianceRouteTables].sort())

    gwlbJson(['destroy', '--name', 'private', '--yes', '--poll-interval', '20'])
    expect(await s3Endpoints(net.vpcId)).toEqual([])
  })

  it('leaves a route table that already has one as it is, and only that one on destroy', async () => {
    const net = await makeNetwork(clients())
    const {VpcEndpoint: theirs} = await clients().ec2.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Gateway', VpcId: net.vpcId, ServiceName: 'com.amazonaws.us-east-1.s3', RouteTableIds: [net.applianceRouteTables[0]!],
    }))
    gwlbJson(['init', ...flags(net)])
    const ours = (await s3Endpoints(net.vpcId)).find((e) => e.VpcEndpointId !== theirs!.VpcEndpointId)
    expect(ours?.RouteTableIds).toEqual([net.applianceRouteTables[1]])

    gwlbJson(['destroy', '--name', 'private', '--yes', '--poll-interval', '20'])
    expect((await s3Endpoints(net.vpcId)).map((e) => e.VpcEndpointId)).toEqual([theirs!.VpcEndpointId])
  })
})
