import {DescribeAutoScalingGroupsCommand} from '@aws-sdk/client-auto-scaling'
import {
  AuthorizeSecurityGroupIngressCommand, CreateLaunchTemplateVersionCommand, DescribeLaunchTemplateVersionsCommand, DescribeSecurityGroupsCommand,
  DescribeVpcEndpointServicePermissionsCommand, ModifyLaunchTemplateCommand, RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2'
import {
  CreateLoadBalancerCommand, DeleteLoadBalancerCommand, DescribeLoadBalancerAttributesCommand, DescribeLoadBalancersCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, ModifyTargetGroupCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import {beforeEach, describe, expect, it} from 'vitest'
import type {InitResult} from '../../src/aws/deployment.js'
import type {DeploymentStatus} from '../../src/aws/status.js'
import {gwlb, gwlbInTerminal, gwlbJson} from '../helpers/cli.js'
import {apply, recordCalls} from '../helpers/deploy.js'
import {makePackage} from '../helpers/fake-package.js'
import {useMoto} from '../helpers/moto.js'
import {attachTransitGateway, dropFlag, initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})

const statusOf = () => gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!
const planOf = (result: InitResult, id: string) => result.plan.find((e) => e.id === id)?.missing ?? []
const errorOf = (stdout: string) => (JSON.parse(stdout) as {error: {code: string; message: string; hint: string}}).error

async function targetGroup() {
  const aws = clients()
  const {TargetGroups = []} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: ['gwlb-egress']}))
  return TargetGroups[0]!
}

/** The launch template's versions, and the version each appliance was launched from. */
async function fleet() {
  const aws = clients()
  const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress'}))
  const {AutoScalingGroups = []} = await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: ['gwlb-egress']}))
  const latest = LaunchTemplateVersions.sort((a, b) => b.VersionNumber! - a.VersionNumber!)[0]!
  return {
    versions: LaunchTemplateVersions.length,
    userData: Buffer.from(latest.LaunchTemplateData?.UserData ?? '', 'base64').toString(),
    latest,
    group: AutoScalingGroups[0]!,
    instanceVersions: (AutoScalingGroups[0]?.Instances ?? []).map((i) => i.LaunchTemplate?.Version),
  }
}

async function healthRulePorts(): Promise<number[]> {
  const {SecurityGroups = []} = await clients().ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['gwlb-egress-appliances']}]}))
  return (SecurityGroups[0]?.IpPermissions ?? []).filter((p) => p.IpProtocol === 'tcp').map((p) => p.FromPort!).sort()
}

describe('a re-run of init with changed settings changes the running deployment', () => {
  let net: Network
  beforeEach(async () => {
    net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net)])
  })

  it('a new health port: new template version, the fleet rolled, then the health check moved, then the old port closed', async () => {
    const dry = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--health-port', '8080', '--dry-run'])
    expect(planOf(dry, 'settings')).toEqual(['health port 80 → 8080'])
    expect(planOf(dry, 'launch-template')).toEqual(['version 2: health port 80 → 8080'])
    expect(planOf(dry, 'auto-scaling-group')).toEqual(['instance refresh: replace 2 appliance(s), keeping 100% of the group healthy'])
    expect(planOf(dry, 'health-check')).toEqual(['health check port 80 → 8080', 'revoke ingress tcp/80 (the old health port)'])
    expect((await fleet()).versions).toBe(1)

    const aws = clients()
    const calls = recordCalls(aws)
    await apply(aws, net, {more: {healthPort: 8080}})
    const after = await fleet()
    expect(after.versions).toBe(2)
    // The new appliances answer on the port the target group still checks, until the check moves.
    expect(after.userData).toContain('gwlb appliance install --enable --now --mode two-arm --health-port 8080 --also-health-port 80 --allowed-sources 10.0.10.0/24,10.0.11.0/24 --policy /etc/gwlb/policy.yaml\n')
    expect(after.instanceVersions).toEqual(['2', '2'])
    expect((await targetGroup()).HealthCheckPort).toBe('8080')
    expect(await healthRulePorts()).toEqual([8080])
    const order = ['AuthorizeSecurityGroupIngressCommand', 'CreateLaunchTemplateVersionCommand', 'StartInstanceRefreshCommand', 'ModifyTargetGroupCommand', 'RevokeSecurityGroupIngressCommand']
    expect(calls.filter((c) => order.includes(c))).toEqual(order)

    const status = statusOf()
    expect(status.verdict).toBe('healthy')
    expect(status.problems).toEqual([])
  })

  it('a deployment that admitted the whole VPC (gwlb 0.2) narrows to the appliance subnets: the narrow rules in before the wide go, the fleet told its sources', async () => {
    const aws = clients()
    const {SecurityGroups = []} = await aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['gwlb-egress-appliances']}]}))
    const group = SecurityGroups[0]!.GroupId!
    // What 0.2 made: the VPC's range on both ports, and appliances that were not told where GENEVE comes from.
    await aws.ec2.send(new RevokeSecurityGroupIngressCommand({GroupId: group, IpPermissions: SecurityGroups[0]!.IpPermissions}))
    await aws.ec2.send(new AuthorizeSecurityGroupIngressCommand({GroupId: group, IpPermissions: [['udp', 6081], ['tcp', 80]].map(([protocol, port]) => ({
      IpProtocol: protocol as string, FromPort: port as number, ToPort: port as number, IpRanges: [{CidrIp: '10.0.0.0/16', Description: 'gwlb egress'}],
    }))}))
    const {latest} = await fleet()
    const oldUserData = Buffer.from(latest.LaunchTemplateData!.UserData!, 'base64').toString().replace(/ --allowed-sources \S+/, '')
    await aws.ec2.send(new CreateLaunchTemplateVersionCommand({LaunchTemplateName: 'gwlb-egress', VersionDescription: latest.VersionDescription,
      LaunchTemplateData: {...latest.LaunchTemplateData, UserData: Buffer.from(oldUserData).toString('base64')} as never}))
    await aws.ec2.send(new ModifyLaunchTemplateCommand({LaunchTemplateName: 'gwlb-egress', DefaultVersion: '2'}))

    const dry = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--dry-run'])
    expect(planOf(dry, 'security-group')).toEqual([
      'ingress udp/6081 from 10.0.10.0/24', 'ingress tcp/80 from 10.0.10.0/24', 'ingress udp/6081 from 10.0.11.0/24', 'ingress tcp/80 from 10.0.11.0/24',
      'revoke ingress udp/6081 from 10.0.0.0/16', 'revoke ingress tcp/80 from 10.0.0.0/16',
    ])
    expect(planOf(dry, 'launch-template')).toEqual(['version 3: GENEVE sources none → 10.0.10.0/24,10.0.11.0/24'])

    const calls = recordCalls(aws)
    await apply(aws, net)
    expect(calls.filter((c) => /SecurityGroupIngress/.test(c))).toEqual(['AuthorizeSecurityGroupIngressCommand', 'RevokeSecurityGroupIngressCommand'])
    const {SecurityGroups: [after] = []} = await aws.ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [group]}))
    expect(after!.IpPermissions!.flatMap((p) => p.IpRanges!.map((r) => `${p.IpProtocol}/${p.FromPort} ${r.CidrIp}`)).sort())
      .toEqual(['tcp/80 10.0.10.0/24', 'tcp/80 10.0.11.0/24', 'udp/6081 10.0.10.0/24', 'udp/6081 10.0.11.0/24'])
    expect((await fleet()).instanceVersions).toEqual(['3', '3'])
  })

  it('a new mode or gwlb package rolls the fleet; --json without --yes refuses before anything changes', async () => {
    const refused = gwlb(['init', '--name', 'egress', '--mode', 'one-arm', '--json'])
    expect(refused.status).toBe(2)
    expect(errorOf(refused.stdout)).toMatchObject({code: 'usage', message: 'this change replaces running appliances (2 appliance(s), keeping 100% of the group healthy)'})
    expect((await fleet()).versions).toBe(1)

    const rolled = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--mode', 'one-arm', '--instance-type', 'c6i.xlarge', '--min-healthy-percentage', '50', '--poll-interval', '20'])
    expect(planOf(rolled, 'auto-scaling-group')).toEqual(['instance refresh: replace 2 appliance(s), keeping 50% of the group healthy'])
    let now = await fleet()
    expect(now.userData).toContain('--mode one-arm --health-port 80 --allowed-sources 10.0.10.0/24,10.0.11.0/24 --policy /etc/gwlb/policy.yaml\n')
    expect(now.latest.LaunchTemplateData?.InstanceType).toBe('c6i.xlarge')
    expect(planOf(rolled, 'launch-template')).toEqual(['version 2: instance type c6i.large → c6i.xlarge, mode two-arm → one-arm'])
    expect(now.instanceVersions).toEqual(['2', '2'])

    // Upgrading gwlb is the same path: another package, staged beside the first, and rolled out.
    const upgraded = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--package', makePackage({version: '0.0.1-test'}), '--poll-interval', '20'])
    expect(planOf(upgraded, 'launch-template')).toEqual([expect.stringMatching(/^version 3: software gwlb 0\.0\.0-test \(sha256 \w+\), Node\.js 24\.22\.3 → gwlb 0\.0\.1-test \(sha256 \w+\), Node\.js 24\.22\.3$/)])
    now = await fleet()
    expect(now.latest.VersionDescription).toMatch(/^gwlb 0\.0\.1-test/)
    expect(now.instanceVersions).toEqual(['3', '3'])
    expect(statusOf().verdict).toBe('healthy')
  })

  it('changes in place what AWS can change in place, and rolls nothing for it', async () => {
    const extra = 'arn:aws:iam::210987654321:root'
    const result = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--desired-capacity', '3', '--max-size', '6', '--cross-zone', '--stickiness', '2-tuple',
      '--deregistration-delay', '60', '--health-protocol', 'TCP', '--allowed-principal', extra, '--poll-interval', '20'])
    // In the settings table's order (the command line's).
    expect(planOf(result, 'settings')).toEqual([
      'max size 4 → 6', 'desired capacity 2 → 3', 'health check protocol HTTP → TCP', 'stickiness 5-tuple → 2-tuple', 'deregistration delay 300 → 60', 'cross-zone off → on',
      `allowed principals none → ${extra}`,
    ])
    expect(planOf(result, 'auto-scaling-group')).toEqual(['max size 4 → 6', 'desired capacity 2 → 3'])
    const aws = clients()
    const now = await fleet()
    expect(now.versions).toBe(1)
    expect(now.group).toMatchObject({MinSize: 2, MaxSize: 6, DesiredCapacity: 3})
    expect(now.instanceVersions).toEqual(['1', '1', '1'])
    const tg = await targetGroup()
    expect(tg.HealthCheckProtocol).toBe('TCP')
    const {Attributes = []} = await aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: tg.TargetGroupArn}))
    expect(Object.fromEntries(Attributes.map((a) => [a.Key, a.Value]))).toMatchObject({'stickiness.type': 'source_ip_dest_ip', 'deregistration_delay.timeout_seconds': '60'})
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const lb = await aws.elb.send(new DescribeLoadBalancerAttributesCommand({LoadBalancerArn: LoadBalancers[0]!.LoadBalancerArn}))
    expect(lb.Attributes?.find((a) => a.Key === 'load_balancing.cross_zone.enabled')?.Value).toBe('true')
    const service = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!.steps.find((s) => s.id === 'endpoint-service')!.resources[0]!.id
    const {AllowedPrincipals = []} = await aws.ec2.send(new DescribeVpcEndpointServicePermissionsCommand({ServiceId: service}))
    expect(AllowedPrincipals.map((p) => p.Principal)).toEqual([extra])
    expect(statusOf().verdict).toBe('healthy')
  })

  it('a route no longer asked for is given back; the others stay', async () => {
    const result = gwlbJson<InitResult>(['init', ...dropFlag(initFlags(net), '--route'), '--route', `${net.workloadRouteTables[0]}=0.0.0.0/0`])
    expect(planOf(result, 'routes')).toEqual([`give back ${net.workloadRouteTables[1]}: 0.0.0.0/0 (no longer asked for)`])
    // A change of what exists, not a creation: the summary counts nothing as created.
    expect(result.steps.find((s) => s.id === 'routes')).toMatchObject({outcome: 'changed', done: [`give back ${net.workloadRouteTables[1]}: 0.0.0.0/0 (no longer asked for)`]})
    expect(result.created).toEqual([])
    const status = statusOf()
    expect(status.steps.find((s) => s.id === 'routes')?.resources.map((r) => r.id)).toEqual([`${net.workloadRouteTables[0]}:0.0.0.0/0`])
    expect(status.verdict).toBe('healthy')
  })

  it('--route none and --tgw-attachment none: every route given back, appliance mode turned off again', async () => {
    const {id, attachment} = await attachTransitGateway(clients(), net)
    const mode = async () => (await attachment()).Options?.ApplianceModeSupport
    gwlbJson(['init', '--yes', '--name', 'egress', '--tgw-attachment', id, '--poll-interval', '20'])
    expect(await mode()).toBe('enable')
    const result = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--tgw-attachment', 'none', '--route', 'none', '--poll-interval', '20'])
    expect(planOf(result, 'tgw-appliance-mode')).toEqual([`appliance mode off on ${id} (no longer asked for)`])
    expect(planOf(result, 'routes')).toHaveLength(2)
    expect(await mode()).toBe('disable')
    const status = statusOf()
    expect(status.steps.find((s) => s.id === 'routes')?.resources).toEqual([])
    expect(status.settings).toMatchObject({routes: [], tgwAttachments: []})
    expect(status.verdict).toBe('healthy')
  })

  it('what cannot change in place is refused before anything changes, with the way to get there', async () => {
    // Other subnets of the same VPC, one per AZ as before: valid, but the load balancer's subnets are fixed.
    const other = {applianceSubnets: net.workloadSubnets}
    const r = gwlb(['init', '--yes', '--name', 'egress', '--appliance-subnets', other.applianceSubnets.join(','), '--desired-capacity', '3', '--json'])
    expect(r.status).toBe(1)
    expect(errorOf(r.stdout)).toEqual({
      code: 'refused',
      message: `appliance subnets ${net.applianceSubnets.join(',')} → ${other.applianceSubnets.join(',')}: cannot change in place`,
      hint: `keep --appliance-subnets ${net.applianceSubnets.join(',')}; or build the new shape beside it (gwlb init --name <new> …), move the routes, then gwlb destroy --name egress`,
    })
    expect((await fleet()).group.DesiredCapacity).toBe(2)
    expect(statusOf().settings?.desiredCapacity).toBe(2)
  })

  it('status reports drift between the stored settings and what exists', async () => {
    const tg = await targetGroup()
    await clients().elb.send(new ModifyTargetGroupCommand({TargetGroupArn: tg.TargetGroupArn, HealthCheckPort: '9090'}))
    const status = statusOf()
    expect(status.verdict).toBe('degraded')
    expect(status.problems).toEqual(['drift from the settings: health check port 9090 → 80 (gwlb init --yes --name egress --region us-east-1 applies them)'])
    gwlbJson(['init', '--yes', '--name', 'egress', '--poll-interval', '20'])
    expect(statusOf().verdict).toBe('healthy')
  })

  it('status sees what breaks the data path behind the tool\'s back, each once: a revoked GENEVE rule, an endpoint service whose load balancer was replaced; init mends both', async () => {
    const aws = clients()
    const {SecurityGroups = []} = await aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['gwlb-egress-appliances']}]}))
    const group = SecurityGroups[0]!
    const geneve = group.IpPermissions!.find((p) => p.IpProtocol === 'udp')!
    const cidr = geneve.IpRanges![0]!.CidrIp!
    await aws.ec2.send(new RevokeSecurityGroupIngressCommand({GroupId: group.GroupId, IpPermissions: [{IpProtocol: 'udp', FromPort: 6081, ToPort: 6081, IpRanges: [{CidrIp: cidr}]}]}))
    // The load balancer goes, and a run of init makes a new one: the service still names the old one.
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const old = LoadBalancers[0]!.LoadBalancerArn!
    await aws.elb.send(new DeleteLoadBalancerCommand({LoadBalancerArn: old}))
    await aws.elb.send(new CreateLoadBalancerCommand({Name: 'gwlb-egress', Type: 'gateway', Subnets: net.applianceSubnets, Tags: [{Key: 'gwlb:deployment', Value: 'egress'}]}))
    const status = statusOf()
    expect(status).toMatchObject({verdict: 'incomplete', missing: ['Listener']})
    expect(status.problems).toEqual([
      `${group.GroupId} has no ingress udp/6081 from ${cidr}: GENEVE from the GWLB in that subnet cannot reach the appliances (gwlb init --yes --name egress --region us-east-1 puts it back)`,
      expect.stringMatching(new RegExp(`^endpoint service vpce-svc-\\w+ sends to ${old.replace(/[/.]/g, '\\$&')}, not to load balancer gwlb-egress: the endpoints' traffic reaches no appliance`)),
    ])
    const dry = gwlbJson<InitResult>(['init', '--yes', '--name', 'egress', '--dry-run'])
    expect(planOf(dry, 'security-group')).toEqual([`ingress udp/6081 from ${cidr}`])
    expect(planOf(dry, 'endpoint-service')).toEqual([`load balancer gwlb-egress in place of ${old}`])
    gwlbJson(['init', '--yes', '--name', 'egress', '--poll-interval', '20'])
    expect(statusOf()).toMatchObject({verdict: 'healthy', problems: []})
  })

  it('in a terminal, the plan\'s question defaults to No: a stray Enter changes nothing', async () => {
    const r = await gwlbInTerminal(['init', '--name', 'egress', '--desired-capacity', '3'], {enterAfter: /Make what is missing or changed\? \(y\/N\)/})
    expect(r.status).toBe(1)
    expect(r.screen).toMatch(/Error: nothing was changed — run gwlb init again when ready/)
    expect((await fleet()).group.DesiredCapacity).toBe(2)
  })

  it('a dry run without a terminal asks nothing: the stored settings and the flags make the plan', () => {
    const r = gwlb(['init', '--name', 'egress', '--desired-capacity', '3', '--dry-run'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/desired capacity 2 → 3/)
  })

  it('the summary for people tells a change in place from a creation', () => {
    const r = gwlb(['init', '--yes', '--name', 'egress', '--desired-capacity', '3', '--poll-interval', '20'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Deployment egress \(us-east-1\): resources: 0 created, \d+ found as they were; 2 parts changed in place\.$/m)
    expect(r.stdout).toMatch(/^ {2}~ Auto Scaling group.*: desired capacity 2 → 3$/m)
    expect(r.stdout).not.toMatch(/^ {2}\+ /m)
  })
})
