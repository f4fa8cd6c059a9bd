import {PutMetricDataCommand} from '@aws-sdk/client-cloudwatch'
import {DescribeLaunchTemplateVersionsCommand, DescribeSecurityGroupsCommand, ModifyInstanceAttributeCommand} from '@aws-sdk/client-ec2'
import {
  DescribeListenerAttributesCommand, DescribeListenersCommand, DescribeLoadBalancersCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand,
  ModifyListenerAttributesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import {DeleteLifecycleHookCommand, DescribeAutoScalingGroupsCommand, DescribeLifecycleHooksCommand, DescribePoliciesCommand, SetDesiredCapacityCommand} from '@aws-sdk/client-auto-scaling'
import {GetRolePolicyCommand} from '@aws-sdk/client-iam'
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
    expect(gwlb(['init', ...flags(), '--scale-on', 'cpu:150']).stderr.trim()).toBe('Error: --scale-on cpu:150 is not a target — give cpu:PCT (1-100), network:MBPS or packets:PPS (per appliance), or none')
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

  it('packets: the appliances\' own packets a second, which each one publishes under the group\'s name, averaged by the policy', async () => {
    const r = gwlb(['init', ...flags(), '--scale-on', 'packets:50000'])
    expect(r.status, r.stderr).toBe(0)
    expect((await policies()).map((p) => p.TargetTrackingConfiguration)).toEqual([expect.objectContaining({
      TargetValue: 50_000,
      CustomizedMetricSpecification: expect.objectContaining({Namespace: 'gwlb', MetricName: 'PacketsPerSecond', Statistic: 'Average', Unit: 'Count/Second', Dimensions: [{Name: 'AutoScalingGroupName', Value: 'gwlb-scaled'}]}),
    })])
    expect(gwlb(['status', '--name', 'scaled']).stdout).toMatch(/Scaling: target tracking on packets:50000/)
    const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-scaled', Versions: ['$Latest']}))
    expect(Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString()).toMatch(/gwlb appliance report .* --scaling-group gwlb-scaled/)
  })
})

describe('lifecycle hooks: an appliance enters service once ready and leaves once drained, completing both hooks itself', () => {
  const aws = clients()
  let net: Network
  const hooks = async () => (await aws.autoscaling.send(new DescribeLifecycleHooksCommand({AutoScalingGroupName: 'gwlb-hooked'}))).LifecycleHooks ?? []

  beforeAll(async () => {
    net = await makeNetwork(aws, '10.2.0.0/16')
    gwlbJson(['init', ...initFlags(net, 'hooked')])
  })

  it('puts a launch hook (15 min, then ABANDON) and a terminate hook (5 min, then CONTINUE) on the group', async () => {
    expect((await hooks()).map((h) => [h.LifecycleHookName, h.LifecycleTransition, h.HeartbeatTimeout, h.DefaultResult]).sort()).toEqual([
      ['gwlb-hooked-launch', 'autoscaling:EC2_INSTANCE_LAUNCHING', 900, 'ABANDON'],
      ['gwlb-hooked-terminate', 'autoscaling:EC2_INSTANCE_TERMINATING', 300, 'CONTINUE'],
    ])
    expect(gwlb(['status', '--name', 'hooked']).stdout).toMatch(/Lifecycle hooks \(launch when ready, drain before terminating\): gwlb-hooked-launch \(900 s, then ABANDON\), gwlb-hooked-terminate \(300 s, then CONTINUE\)/)
  })

  it('lets each appliance complete the hooks of its own group only, and runs the command that does it from boot', async () => {
    const {PolicyDocument} = await aws.iam.send(new GetRolePolicyCommand({RoleName: 'gwlb-hooked-us-east-1', PolicyName: 'gwlb-source-dest-check'}))
    const statements = (JSON.parse(decodeURIComponent(PolicyDocument!)) as {Statement: {Sid: string; Action: string | string[]; Resource: string}[]}).Statement
    expect(statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('autoscaling:')))).toEqual([{
      Sid: 'OwnLifecycleHooks', Effect: 'Allow', Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      Resource: 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/gwlb-hooked',
    }])
    const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-hooked', Versions: ['$Latest']}))
    const script = Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString()
    expect(script).toMatch(/^ExecStart=\/usr\/local\/bin\/node \/usr\/local\/bin\/gwlb appliance lifecycle --group gwlb-hooked --on-terminate 'systemctl stop gwlb-appliance\.service'$/m)
    expect(script).toMatch(/^systemctl enable --now gwlb-policy\.timer gwlb-report\.timer gwlb-lifecycle\.service$/m)
  })

  it('puts back a hook changed or deleted behind its back, and destroy takes them before the group', async () => {
    await aws.autoscaling.send(new DeleteLifecycleHookCommand({AutoScalingGroupName: 'gwlb-hooked', LifecycleHookName: 'gwlb-hooked-terminate'}))
    expect(gwlbJson<{deployments: {verdict: string}[]}>(['status', '--name', 'hooked']).deployments[0]!.verdict).toMatch(/incomplete/)
    const again = gwlb(['init', ...initFlags(net, 'hooked')])
    expect(again.status, again.stderr).toBe(0)
    expect((await hooks()).map((h) => h.LifecycleHookName).sort()).toEqual(['gwlb-hooked-launch', 'gwlb-hooked-terminate'])
    const destroyed = gwlbJson<{removed: {id: string}[]}>(['destroy', '--name', 'hooked', '--yes'])
    const order = destroyed.removed.map((s) => s.id)
    expect(order.indexOf('lifecycle-hooks')).toBeLessThan(order.indexOf('auto-scaling-group'))
  })
})

describe('status shows what the fleet carried (CloudWatch, one GetMetricData), and why a healthy fleet may carry nothing', () => {
  const aws = clients()
  /** Data points as AWS would publish them for a deployment's GWLB, target group and instances, a minute ago. */
  async function seed(name: string, points: {az?: string; metric: string; value: number; perTargetGroup?: boolean; instance?: string}[]) {
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: [`gwlb-${name}`]}))
    const {TargetGroups = []} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: [`gwlb-${name}`]}))
    const loadBalancer = {Name: 'LoadBalancer', Value: LoadBalancers[0]!.LoadBalancerArn!.split(':loadbalancer/')[1]!}
    const targetGroup = {Name: 'TargetGroup', Value: TargetGroups[0]!.TargetGroupArn!.split(':').at(-1)!}
    const at = new Date(Date.now() - 60_000)
    for (const p of points) {
      await aws.cloudwatch.send(p.instance
        ? new PutMetricDataCommand({Namespace: 'AWS/EC2', MetricData: [{MetricName: p.metric, Value: p.value, Timestamp: at, Dimensions: [{Name: 'InstanceId', Value: p.instance}]}]})
        : new PutMetricDataCommand({Namespace: 'AWS/GatewayELB', MetricData: [{MetricName: p.metric, Value: p.value, Timestamp: at,
          Dimensions: [loadBalancer, ...(p.perTargetGroup ? [targetGroup] : []), {Name: 'AvailabilityZone', Value: p.az!}]}]}))
    }
  }
  const instancesOf = async (name: string) =>
    ((await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [`gwlb-${name}`]}))).AutoScalingGroups![0]!.Instances ?? []).map((i) => i.InstanceId!).sort()

  it('by AZ: flows, new flows, bytes and healthy appliances; by appliance: packets in', async () => {
    gwlbJson(['init', ...initFlags(await makeNetwork(aws, '10.3.0.0/16'), 'busy')])
    const [first] = await instancesOf('busy')
    await seed('busy', [
      {az: 'us-east-1a', metric: 'ActiveFlowCount', value: 120}, {az: 'us-east-1a', metric: 'NewFlowCount', value: 30}, {az: 'us-east-1a', metric: 'NewFlowCount', value: 12},
      {az: 'us-east-1a', metric: 'ProcessedBytes', value: 5_000_000}, {az: 'us-east-1a', metric: 'HealthyHostCount', value: 1, perTargetGroup: true},
      {az: 'us-east-1b', metric: 'HealthyHostCount', value: 1, perTargetGroup: true}, {metric: 'NetworkPacketsIn', value: 4321, instance: first},
    ])
    const text = gwlb(['status', '--name', 'busy']).stdout
    expect(text).toMatch(/Traffic through the GWLB, last 5 min \(CloudWatch\):\n.*AZ\s+active flows\s+new flows\s+processed\s+healthy\s+unhealthy\n\s+us-east-1a\s+120\s+42\s+5\.0 MB\s+1\s+0\n\s+us-east-1b\s+0\s+0\s+0 B\s+1\s+0/)
    expect(text).toMatch(new RegExp(`packets in by appliance: (i-\\w+ 0, )?${first} 4,321`))
    expect(text).not.toMatch(/nothing went through/)
    const json = gwlbJson<{deployments: {traffic: {azs: {az: string; newFlows: number}[]}}[]}>(['status', '--name', 'busy']).deployments[0]!
    expect(json.traffic.azs.map((a) => [a.az, a.newFlows])).toEqual([['us-east-1a', 42], ['us-east-1b', 0]])
  })

  it('healthy and idle: names an appliance whose source/destination check is on, with its fix', async () => {
    gwlbJson(['init', ...initFlags(await makeNetwork(aws, '10.4.0.0/16'), 'quiet')])
    const [checked] = await instancesOf('quiet')
    await aws.ec2.send(new ModifyInstanceAttributeCommand({InstanceId: checked, SourceDestCheck: {Value: true}}))
    await seed('quiet', [{az: 'us-east-1a', metric: 'HealthyHostCount', value: 1, perTargetGroup: true}, {az: 'us-east-1b', metric: 'HealthyHostCount', value: 1, perTargetGroup: true}])
    const status = gwlbJson<{deployments: {verdict: string; problems: string[]; traffic: {idle: string[]}}[]}>(['status', '--name', 'quiet']).deployments[0]!
    const fix = `${checked} has its source/destination check on, so EC2 drops what it forwards for others: it turns it off itself at start (journalctl -u gwlb-appliance on it), or aws ec2 modify-instance-attribute --instance-id ${checked} --no-source-dest-check`
    expect([status.verdict, status.problems]).toEqual(['degraded', [fix]])
    expect(status.traffic.idle).toEqual([fix])
    expect(gwlb(['status', '--name', 'quiet']).stdout).toContain(`! healthy, and nothing went through in 5 min:\n    - ${fix}`)
  })
})
