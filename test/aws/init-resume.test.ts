import {describe, expect, it} from 'vitest'
import type {AwsClients} from '../../src/aws/clients.js'
import {applyDeployment, prepare} from '../../src/aws/deployment.js'
import {completeFromFlags} from '../../src/aws/spec.js'
import {fakePackage} from '../helpers/fake-package.js'
import {inventory} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

const EXPECTED = {
  'security-group': 1, 'iam-role': 1, 'instance-profile': 1, 'target-group': 1, 'load-balancer': 1, listener: 1, 'endpoint-service': 1,
  'vpc-endpoint': 2, 'route-to-endpoint': 2, 'nat-gateway': 2, 'elastic-ip': 2, 'route-to-nat': 2, 'launch-template': 1, 'auto-scaling-group': 1, 's3-bucket': 1,
}

/** Every AWS call through which init changes something, in the order a deployment makes them. */
const MUTATIONS = [
  'CreateSecurityGroupCommand', 'AuthorizeSecurityGroupIngressCommand', 'CreateRoleCommand', 'PutRolePolicyCommand', 'CreateInstanceProfileCommand',
  'AddRoleToInstanceProfileCommand', 'CreateTargetGroupCommand', 'ModifyTargetGroupAttributesCommand', 'CreateLoadBalancerCommand',
  'ModifyLoadBalancerAttributesCommand', 'CreateListenerCommand', 'CreateVpcEndpointServiceConfigurationCommand',
  'ModifyVpcEndpointServicePermissionsCommand', 'CreateVpcEndpointCommand', 'AcceptVpcEndpointConnectionsCommand', 'CreateRouteCommand',
  'AllocateAddressCommand', 'CreateNatGatewayCommand', 'CreateLaunchTemplateCommand', 'CreateAutoScalingGroupCommand',
]

/** Makes the n-th call of one command fail the way AWS fails (a 500), on every client of the factory. */
function failOnce(aws: AwsClients, command: string, nth = 1): void {
  let seen = 0
  for (const client of [aws.ec2, aws.elb, aws.iam, aws.autoscaling] as {middlewareStack: {add(mw: unknown, o: unknown): void}}[])
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: {commandName?: string}) => async (args: unknown) => {
        if (context.commandName === command && ++seen === nth) throw Object.assign(new Error(`injected failure of ${command}`), {name: 'InternalFailure'})
        return next(args)
      },
      {step: 'initialize', name: 'injectFailure'},
    )
}

async function init(aws: AwsClients, net: Network) {
  const spec = completeFromFlags({
    name: 'egress', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natSubnets: net.publicSubnets,
    routes: net.workloadRouteTables.map((routeTableId) => ({routeTableId, cidr: '0.0.0.0/0'})), package: fakePackage(),
  })
  const ctx = await prepare(aws, spec, {pollMs: 10, timeoutMs: 10_000})
  return applyDeployment(ctx, 'silent')
}

describe('gwlb init resumes after a failure at any step', () => {
  it.each(MUTATIONS)('fails at %s, then a re-run completes it with no duplicates', async (command) => {
    const net = await makeNetwork(clients())
    const failing = clients()
    // The second route and the second endpoint fail too, so that half of an AZ-by-AZ step is done.
    failOnce(failing, command, ['CreateRouteCommand', 'CreateVpcEndpointCommand', 'AllocateAddressCommand', 'CreateNatGatewayCommand'].includes(command) ? 2 : 1)
    await expect(init(failing, net)).rejects.toThrow(`injected failure of ${command}`)
    const half = await inventory(clients(), 'egress')
    expect(Object.entries(half).every(([type, n]) => n <= EXPECTED[type as keyof typeof EXPECTED])).toBe(true)

    const resumed = await init(clients(), net)
    expect(await inventory(clients(), 'egress')).toEqual(EXPECTED)
    expect(resumed.found.length).toBeGreaterThan(0)
  })
})
