import {CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointsCommand} from '@aws-sdk/client-ec2'
import {describe, expect, it} from 'vitest'
import type {InitResult} from '../../src/aws/deployment.js'
import type {DeploymentStatus} from '../../src/aws/status.js'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {inventory, nothing} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {makeNetwork} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

const s3Endpoints = async (vpcId: string) =>
  (await clients().ec2.send(new DescribeVpcEndpointsCommand({Filters: [{Name: 'vpc-id', Values: [vpcId]}, {Name: 'vpc-endpoint-type', Values: ['Gateway']}]})))
    .VpcEndpoints!.filter((e) => !['deleted', 'deleting'].includes((e.State ?? '').toLowerCase()))

const flags = (net: Awaited<ReturnType<typeof makeNetwork>>, name = 'private') => [
  '--yes', '--name', name, '--vpc-id', net.vpcId, '--appliance-subnets', net.applianceSubnets.join(','),
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

  it('a second deployment on the same appliance subnets is refused before anything is made: the first one\'s destroy would take its way to S3', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...flags(net)])
    const r = gwlb(['init', ...flags(net, 'second'), '--json'])
    expect(r.status).toBe(1)
    expect(JSON.parse(r.stdout).error).toMatchObject({code: 'refused', message: expect.stringMatching(/^rtb-\w+ reaches S3 through vpce-\w+ of gwlb deployment private$/)})
    expect(nothing(await inventory(clients(), 'second'))).toBe(true)
  })

  it('status names an appliance route table left without a way to S3 as missing, and init gives it one back', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...flags(net)])
    const [endpoint] = await s3Endpoints(net.vpcId)
    await clients().ec2.send(new DeleteVpcEndpointsCommand({VpcEndpointIds: [endpoint!.VpcEndpointId!]}))
    const status = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'private']).deployments[0]!
    expect(status).toMatchObject({verdict: 'incomplete', problems: [], resume: 'gwlb init --yes --name private --region us-east-1'})
    expect(status.missing).toEqual(net.applianceRouteTables.map((t) => `S3 gateway endpoint for the appliance subnets: route from ${t} to S3 through a gateway endpoint`))
    gwlbJson(['init', '--yes', '--name', 'private', '--poll-interval', '20'])
    expect(gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'private']).deployments[0]!).toMatchObject({verdict: 'healthy', problems: []})
  })
})
