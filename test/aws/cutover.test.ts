import {DescribeInstancesCommand, DescribeRouteTablesCommand} from '@aws-sdk/client-ec2'
import type {DescribeTargetHealthCommandOutput} from '@aws-sdk/client-elastic-load-balancing-v2'
import {describe, expect, it} from 'vitest'
import type {AwsClients} from '../../src/aws/clients.js'
import {destroyDeployment, listOwned, type DestroyResult} from '../../src/aws/teardown.js'
import {UserError} from '../../src/errors.js'
import {gwlbJson} from '../helpers/cli.js'
import {apply, intercept, recordCalls} from '../helpers/deploy.js'
import {inventory, WHOLE_DEPLOYMENT} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

type Health = 'healthy' | 'initial' | 'unhealthy'

/**
 * The emulator calls every target healthy at once; AWS takes minutes and may never. This sequences target
 * health as AWS would report it: the n-th DescribeTargetHealth answers `state(n, az)` for each target.
 */
function sequenceHealth(aws: AwsClients, state: (call: number, az: string) => Health): void {
  let calls = 0
  intercept(aws, (next, context) => async (args) => {
    const result = (await next(args)) as {output: DescribeTargetHealthCommandOutput}
    if (context.commandName !== 'DescribeTargetHealthCommand') return result
    calls++
    const targets = result.output.TargetHealthDescriptions ?? []
    const {Reservations = []} = await clients().ec2.send(new DescribeInstancesCommand({InstanceIds: targets.map((t) => t.Target!.Id!)}))
    const azOf = new Map(Reservations.flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId!, i.Placement!.AvailabilityZone!]))
    for (const t of targets) {
      const health = state(calls, azOf.get(t.Target!.Id!)!)
      t.TargetHealth = health === 'healthy' ? {State: 'healthy'} : {State: health, Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed'}
    }
    return result
  }, 'sequenceHealth')
}

/** The workload tables' default routes: where the operator's traffic goes now. */
async function workloadRoutes(aws: AwsClients, net: Network): Promise<(string | undefined)[]> {
  const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: net.workloadRouteTables}))
  return net.workloadRouteTables.map((id) => RouteTables.find((t) => t.RouteTableId === id)?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.GatewayId)
}

const timing = {pollMs: 10, timeoutMs: 3000}

describe('cut-over gated on the health of the appliances', () => {
  it('sends the workload routes to the endpoints only once every routed AZ has a healthy appliance', async () => {
    const net = await makeNetwork(clients())
    const aws = clients()
    const calls = recordCalls(aws)
    // us-east-1a is healthy from the 3rd look, us-east-1b from the 6th.
    sequenceHealth(aws, (n, az) => ((az.endsWith('a') ? n >= 3 : n >= 6) ? 'healthy' : 'initial'))
    await apply(aws, net, {timing})
    const firstRoute = calls.findIndex((c, i) => c === 'CreateRouteCommand' && calls.slice(0, i).filter((x) => x === 'DescribeTargetHealthCommand').length > 0)
    expect(calls.slice(0, firstRoute).filter((c) => c === 'DescribeTargetHealthCommand')).toHaveLength(6)
    // The appliances' own egress routes (to the NAT gateways) came before the fleet, ungated.
    expect(calls.indexOf('CreateRouteCommand')).toBeLessThan(calls.indexOf('CreateAutoScalingGroupCommand'))
    expect((await workloadRoutes(aws, net)).every((t) => t?.startsWith('vpce-'))).toBe(true)
    expect(await inventory(aws, 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })

  it('on a timeout changes no route, says which appliance is unhealthy and why, and a re-run resumes the wait', async () => {
    const net = await makeNetwork(clients())
    const failing = clients()
    sequenceHealth(failing, (_, az) => (az.endsWith('a') ? 'healthy' : 'unhealthy'))
    const error = await apply(failing, net, {timing: {pollMs: 10, timeoutMs: 300}}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).code).toBe('unhealthy')
    expect((error as UserError).message).toMatch(/^no route was changed: after \d+s us-east-1a 1\/1 healthy, us-east-1b 0\/1 healthy; i-\w+ \(us-east-1b\) unhealthy: Target\.FailedHealthChecks: Health checks failed$/)
    expect(await workloadRoutes(clients(), net)).toEqual([undefined, undefined])
    expect(await inventory(clients(), 'egress')).toEqual({...WHOLE_DEPLOYMENT, 'route-to-endpoint': 0})

    const resumed = await apply(clients(), net, {timing})
    expect(resumed.steps.find((s) => s.id === 'routes')?.outcome).toBe('created')
    expect(await inventory(clients(), 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })

  it('--cutover-gate any: one healthy appliance anywhere opens it; the default would have waited for both AZs', async () => {
    const net = await makeNetwork(clients())
    const oneAz = (aws: AwsClients) => sequenceHealth(aws, (_, az) => (az.endsWith('a') ? 'healthy' : 'initial'))
    const strict = clients()
    oneAz(strict)
    await expect(apply(strict, net, {timing: {pollMs: 10, timeoutMs: 200}})).rejects.toThrow(/us-east-1b 0\/1 healthy/)
    const lenient = clients()
    oneAz(lenient)
    await apply(lenient, net, {timing, gate: 'any'})
    expect((await workloadRoutes(clients(), net)).every((t) => t?.startsWith('vpce-'))).toBe(true)
  })

  it('the plan says what the routes wait for', async () => {
    const net = await makeNetwork(clients())
    const plan = gwlbJson<{plan: {id: string; missing: string[]}[]}>(['init', ...initFlags(net), '--dry-run'])
    expect(plan.plan.at(-1)?.id).toBe('routes')
    expect(plan.plan.at(-1)?.missing[0]).toBe('cut-over once appliances are healthy in us-east-1a and us-east-1b')
    const none = gwlbJson<{plan: {id: string; missing: string[]}[]}>(['init', ...initFlags(net), '--dry-run', '--cutover-gate', 'none'])
    expect(none.plan.at(-1)?.missing[0]).toMatch(/^cut-over at once, without waiting for healthy appliances/)
  })
})

describe('teardown in the reverse of cut-over', () => {
  it('gives the workload routes back before anything else goes, and the dry run shows that order', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net)])
    const plan = gwlbJson<DestroyResult>(['destroy', '--name', 'egress', '--dry-run'])
    expect(plan.owned[0]).toMatchObject({id: 'routes', resources: [expect.anything(), expect.anything()]})
    const aws = clients()
    const calls = recordCalls(aws)
    const scope = {aws, deployment: 'egress', region: 'us-east-1', timing: {pollMs: 10, timeoutMs: 10_000}, progress: () => undefined}
    const result = await destroyDeployment(scope, 'silent', await listOwned(scope))
    expect(result.removed[0]?.id).toBe('routes')
    const mutations = calls.filter((c) => !/^(Describe|List|Get|Head)/.test(c))
    expect(mutations.slice(0, 2)).toEqual(['DeleteRouteCommand', 'DeleteRouteCommand'])
    expect(await workloadRoutes(aws, net)).toEqual([undefined, undefined])
  })
})
