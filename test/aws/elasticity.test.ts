import {DescribeLaunchTemplateVersionsCommand, DescribeSecurityGroupsCommand} from '@aws-sdk/client-ec2'
import {
  DescribeListenerAttributesCommand, DescribeListenersCommand, DescribeLoadBalancersCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand,
  ModifyListenerAttributesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import {DescribeAutoScalingGroupsCommand, DescribePoliciesCommand, SetDesiredCapacityCommand} from '@aws-sdk/client-auto-scaling'
import {beforeAll, describe, expect, it} from 'vitest'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto()

describe('gwlb init --tcp-idle-timeout and --tcp-reset: one idle timeout for the GWLB and its appliances, and the resets AWS offers', () => {
  const aws = clients()
  let net: Network

  const listenerAttributes = async () => {
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const {Listeners = []} = await aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: LoadBalancers[0]!.LoadBalancerArn}))
    const {Attributes = []} = await aws.elb.send(new DescribeListenerAttributesCommand({ListenerArn: Listeners[0]!.ListenerArn}))
    return {arn: Listeners[0]!.ListenerArn!, attributes: Object.fromEntries(Attributes.map((a) => [a.Key!, a.Value!]))}
  }
  const targetGroupAttributes = async () => {
    const {TargetGroups = []} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: ['gwlb-egress']}))
    const {Attributes = []} = await aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: TargetGroups[0]!.TargetGroupArn}))
    return Object.fromEntries(Attributes.map((a) => [a.Key!, a.Value!]))
  }
  const userData = async () => {
    const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
    return Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString()
  }

  beforeAll(async () => {
    net = await makeNetwork(aws)
  })

  it('refuses resets AWS does not apply, before anything is made: one line, exit 2', async () => {
    const rebalance = gwlb(['init', ...initFlags(net), '--tcp-reset', 'unhealthy', '--failover', 'rebalance'])
    expect(rebalance.status).toBe(2)
    expect(rebalance.stderr.trim()).toBe('Error: --tcp-reset unhealthy does not apply with --failover rebalance (its flows move to another appliance instead) — use --failover no-rebalance, or --tcp-reset idle')
    const sticky = gwlb(['init', ...initFlags(net), '--tcp-reset', 'idle,deregistration', '--stickiness', '2-tuple'])
    expect(sticky.stderr.trim()).toBe('Error: --tcp-reset deregistration needs 5-tuple stickiness (got 2-tuple) — use --stickiness 5-tuple, or --tcp-reset idle')
    expect(gwlb(['init', ...initFlags(net), '--tcp-reset', 'sometimes']).status).toBe(2)
    expect(gwlb(['init', ...initFlags(net), '--tcp-idle-timeout', '30']).stderr).toMatch(/tcp-idle-timeout/)
    const {SecurityGroups = []} = await aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['gwlb-egress-appliances']}]}))
    expect(SecurityGroups).toEqual([])
  })

  it('sets the listener\'s idle timeout and the appliances\' flow timeout from one setting, and each reset where AWS keeps it', async () => {
    gwlbJson(['init', ...initFlags(net), '--tcp-idle-timeout', '900', '--tcp-reset', 'idle,unhealthy,deregistration'])
    expect((await listenerAttributes()).attributes).toMatchObject({'tcp.idle_timeout.seconds': '900', 'send_tcp_reset.on_idle_timeout.enabled': 'true'})
    expect(await targetGroupAttributes()).toMatchObject({'send_tcp_reset.on_unhealthy.enabled': 'true', 'send_tcp_reset.on_deregistration.enabled': 'true'})
    expect(await userData()).toMatch(/^gwlb appliance install .* --flow-timeout 900 /m)
    expect(gwlb(['status', '--name', 'egress']).stdout).toMatch(/Listener: TCP idle timeout 900 s, reset when idle/)
  })

  it('status sees an attribute changed behind its back; init changes the resets in place', async () => {
    const {arn} = await listenerAttributes()
    await aws.elb.send(new ModifyListenerAttributesCommand({ListenerArn: arn, Attributes: [{Key: 'tcp.idle_timeout.seconds', Value: '350'}]}))
    expect(gwlb(['status', '--name', 'egress']).stdout).toMatch(/drift from the settings: tcp\.idle_timeout\.seconds 350 → 900/)
    const r = gwlb(['init', ...initFlags(net), '--tcp-reset', 'none'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/TCP resets idle,unhealthy,deregistration → none/)
    expect((await listenerAttributes()).attributes).toMatchObject({'tcp.idle_timeout.seconds': '900', 'send_tcp_reset.on_idle_timeout.enabled': 'false'})
    expect(await targetGroupAttributes()).toMatchObject({'send_tcp_reset.on_unhealthy.enabled': 'false', 'send_tcp_reset.on_deregistration.enabled': 'false'})
  })
})

describe('gwlb init --scale-on: the fleet follows its traffic between --min-size and --max-size', () => {
  const aws = clients()
  let net: Network
  const flags = () => initFlags(net, 'scaled')
  const policies = async () => (await aws.autoscaling.send(new DescribePoliciesCommand({AutoScalingGroupName: 'gwlb-scaled'}))).ScalingPolicies ?? []

  beforeAll(async () => {
    net = await makeNetwork(aws, '10.1.0.0/16')
  })

  it('refuses a minimum that would let scale-in leave an AZ without an appliance, and a target that is none', () => {
    const low = gwlb(['init', ...flags(), '--scale-on', 'cpu:60', '--min-size', '1', '--desired-capacity', '2'])
    expect(low.status).toBe(2)
    expect(low.stderr.trim()).toBe('Error: --min-size 1 would let scale-in leave an AZ without an appliance (2 AZs) — give --min-size 2 or more with --scale-on')
    expect(gwlb(['init', ...flags(), '--scale-on', 'cpu:150']).stderr.trim()).toBe('Error: --scale-on cpu:150 is not a target — give cpu:PCT (1-100), network:MBPS (per appliance), or none')
  })

  it('tracks CPU: one target-tracking policy on the group, shown by status', async () => {
    gwlbJson(['init', ...flags(), '--scale-on', 'cpu:60'])
    expect((await policies()).map((p) => [p.PolicyName, p.PolicyType, p.TargetTrackingConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType, p.TargetTrackingConfiguration?.TargetValue]))
      .toEqual([['gwlb-scaled-target-tracking', 'TargetTrackingScaling', 'ASGAverageCPUUtilization', 60]])
    expect(gwlb(['status', '--name', 'scaled']).stdout).toMatch(/Scaling: target tracking on cpu:60/)
  })

  it('leaves the desired capacity to the policy: what scaling set is no drift, and a re-run does not undo it', async () => {
    await aws.autoscaling.send(new SetDesiredCapacityCommand({AutoScalingGroupName: 'gwlb-scaled', DesiredCapacity: 3}))
    const status = gwlbJson<{deployments: {verdict: string; problems: string[]}[]}>(['status', '--name', 'scaled']).deployments[0]!
    expect(status.problems.filter((p) => /desired capacity/.test(p))).toEqual([])
    gwlbJson(['init', ...flags()])
    const {AutoScalingGroups = []} = await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: ['gwlb-scaled']}))
    expect(AutoScalingGroups[0]!.DesiredCapacity).toBe(3)
  })

  it('changes the target in place (network: Mbit/s received per appliance, as bytes per 5-minute period), and none removes the policy', async () => {
    const r = gwlb(['init', ...flags(), '--scale-on', 'network:500'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/scaling cpu:60 → network:500/)
    expect((await policies()).map((p) => [p.TargetTrackingConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType, p.TargetTrackingConfiguration?.TargetValue]))
      .toEqual([['ASGAverageNetworkIn', 18_750_000_000]])
    gwlbJson(['init', ...flags(), '--scale-on', 'none'])
    expect(await policies()).toEqual([])
  })
})
