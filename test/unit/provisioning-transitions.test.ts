import {DEFAULT_APPLY_OPTIONS} from '../../src/aws/deployment.js'
import {AcceptVpcEndpointConnectionsCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointsCommand} from '@aws-sdk/client-ec2'
import {DescribeLoadBalancersCommand, ModifyLoadBalancerAttributesCommand} from '@aws-sdk/client-elastic-load-balancing-v2'
import {mockClient} from 'aws-sdk-client-mock'
import {describe, expect, it} from 'vitest'
import {AwsClients} from '../../src/aws/clients.js'
import {withDefaults} from '../../src/aws/settings-table.js'
import type {StepContext} from '../../src/aws/step.js'
import {endpointConnections} from '../../src/aws/steps/endpoints.js'
import {loadBalancer} from '../../src/aws/steps/load-balancer.js'
import type {Topology} from '../../src/aws/topology.js'

/**
 * States AWS goes through that the emulator skips (it makes everything ready at once), replayed as
 * sequenced SDK responses.
 */
function context(): {ctx: StepContext; progress: string[]} {
  const aws = new AwsClients({region: 'eu-west-1'})
  const spec = withDefaults({name: 'slow', vpcId: 'vpc-1', applianceSubnets: ['subnet-a'], endpointSubnets: ['subnet-e1', 'subnet-e2']})
  const topology = {
    region: 'eu-west-1', account: '111122223333', partition: 'aws', vpcId: 'vpc-1', routeTables: [], routeAzs: new Map(),
    architecture: 'amd64', warnings: [],
    subnets: new Map([['subnet-e1', {id: 'subnet-e1', az: 'eu-west-1a', cidr: '10.0.1.0/24', public: false}], ['subnet-e2', {id: 'subnet-e2', az: 'eu-west-1b', cidr: '10.0.2.0/24', public: false}]]),
  } satisfies Topology
  const progress: string[] = []
  const ctx: StepContext = {aws, spec, topology, timing: {pollMs: 1, timeoutMs: 2000}, options: DEFAULT_APPLY_OPTIONS, states: new Map(), progress: (m) => progress.push(m)}
  return {ctx, progress}
}

const endpoint = (id: string, subnet: string, state: string) => ({
  VpcEndpointId: id, SubnetIds: [subnet], State: state as never, VpcEndpointType: 'GatewayLoadBalancer' as const, Tags: [{Key: 'gwlb:deployment', Value: 'slow'}],
})

describe('waiting for AWS', () => {
  it('accepts connections that turn up pendingAcceptance, then waits through pending until every endpoint is available', async () => {
    const {ctx, progress} = context()
    ctx.states.set('endpoint-service', {resources: [{type: 'endpoint-service', id: 'vpce-svc-1'}], missing: []})
    ctx.states.set('endpoints', {resources: [{type: 'vpc-endpoint', id: 'vpce-1'}, {type: 'vpc-endpoint', id: 'vpce-2'}], missing: []})
    const ec2 = mockClient(ctx.aws.ec2)
    ec2.on(DescribeVpcEndpointConnectionsCommand)
      .resolvesOnce({VpcEndpointConnections: [{VpcEndpointId: 'vpce-1', VpcEndpointState: 'pendingAcceptance' as never}]})
      .resolvesOnce({VpcEndpointConnections: [{VpcEndpointId: 'vpce-2', VpcEndpointState: 'pendingAcceptance' as never}]})
      .resolves({VpcEndpointConnections: []})
    ec2.on(AcceptVpcEndpointConnectionsCommand).resolves({Unsuccessful: []})
    ec2.on(DescribeVpcEndpointsCommand)
      .resolvesOnce({VpcEndpoints: [endpoint('vpce-1', 'subnet-e1', 'pending'), endpoint('vpce-2', 'subnet-e2', 'pendingAcceptance')]})
      .resolvesOnce({VpcEndpoints: [endpoint('vpce-1', 'subnet-e1', 'available'), endpoint('vpce-2', 'subnet-e2', 'pending')]})
      .resolves({VpcEndpoints: [endpoint('vpce-1', 'subnet-e1', 'available'), endpoint('vpce-2', 'subnet-e2', 'available')]})

    const state = await endpointConnections.create(ctx, {resources: [], missing: []})
    expect(state.resources.map((r) => [r.id, r.az, r.detail])).toEqual([['vpce-1', 'eu-west-1a', 'available'], ['vpce-2', 'eu-west-1b', 'available']])
    const accepted = ec2.commandCalls(AcceptVpcEndpointConnectionsCommand).map((c) => c.args[0].input.VpcEndpointIds)
    expect(accepted).toEqual([['vpce-1'], ['vpce-2']])
    expect(progress).toEqual(['vpce-1 pending, vpce-2 pendingAcceptance', 'vpce-2 pending'])
  })

  it('gives up on endpoints that never become available, and says that a re-run resumes', async () => {
    const {ctx} = context()
    ctx.states.set('endpoint-service', {resources: [{type: 'endpoint-service', id: 'vpce-svc-1'}], missing: []})
    ctx.states.set('endpoints', {resources: [{type: 'vpc-endpoint', id: 'vpce-1'}], missing: []})
    ctx.timing = {pollMs: 5, timeoutMs: 50}
    const ec2 = mockClient(ctx.aws.ec2)
    ec2.on(DescribeVpcEndpointConnectionsCommand).resolves({VpcEndpointConnections: []})
    ec2.on(DescribeVpcEndpointsCommand).resolves({VpcEndpoints: [endpoint('vpce-1', 'subnet-e1', 'pending')]})
    await expect(endpointConnections.create(ctx, {resources: [], missing: []})).rejects.toThrow(/timed out after \d+s waiting for the GWLB endpoints to become available; re-run the same command to resume/)
  })

  it('waits while the load balancer is provisioning, and reports a failed one', async () => {
    const {ctx, progress} = context()
    const elb = mockClient(ctx.aws.elb)
    const lb = (code: string) => ({LoadBalancers: [{LoadBalancerArn: 'arn:lb', LoadBalancerName: 'gwlb-slow', State: {Code: code as never, Reason: 'no capacity'}, AvailabilityZones: [{ZoneName: 'eu-west-1a'}]}]})
    elb.on(ModifyLoadBalancerAttributesCommand).resolves({})
    elb.on(DescribeLoadBalancersCommand).resolvesOnce(lb('provisioning')).resolvesOnce(lb('provisioning')).resolves(lb('active'))
    const found = {resources: [{type: 'load-balancer', id: 'arn:lb'}], missing: ['state active (now provisioning)']}
    const state = await loadBalancer.create(ctx, found)
    expect(state.resources[0]).toMatchObject({id: 'arn:lb', detail: 'active, eu-west-1a'})
    expect(progress.filter((p) => p.startsWith('provisioning'))).toHaveLength(2)

    elb.on(DescribeLoadBalancersCommand).resolves(lb('failed'))
    await expect(loadBalancer.create(ctx, found)).rejects.toThrow('load balancer gwlb-slow failed: no capacity')
  })
})
