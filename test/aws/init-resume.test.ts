import {describe, expect, it} from 'vitest'
import type {AwsClients} from '../../src/aws/clients.js'
import {apply, intercept} from '../helpers/deploy.js'
import {inventory, WHOLE_DEPLOYMENT} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {makeNetwork} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})


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
  intercept(aws, (next, context) => async (args) => {
    if (context.commandName === command && ++seen === nth) throw Object.assign(new Error(`injected failure of ${command}`), {name: 'InternalFailure'})
    return next(args)
  }, 'injectFailure')
}

describe('gwlb init resumes after a failure at any step', () => {
  it.each(MUTATIONS)('fails at %s, then a re-run completes it with no duplicates', async (command) => {
    const net = await makeNetwork(clients())
    const failing = clients()
    // The second route and the second endpoint fail too, so that half of an AZ-by-AZ step is done.
    failOnce(failing, command, ['CreateRouteCommand', 'CreateVpcEndpointCommand', 'AllocateAddressCommand', 'CreateNatGatewayCommand'].includes(command) ? 2 : 1)
    await expect(apply(failing, net)).rejects.toThrow(`injected failure of ${command}`)
    const half = await inventory(clients(), 'egress')
    expect(Object.entries(half).every(([type, n]) => n <= WHOLE_DEPLOYMENT[type as keyof typeof WHOLE_DEPLOYMENT])).toBe(true)

    const resumed = await apply(clients(), net)
    expect(await inventory(clients(), 'egress')).toEqual(WHOLE_DEPLOYMENT)
    expect(resumed.found.length).toBeGreaterThan(0)
  })
})
