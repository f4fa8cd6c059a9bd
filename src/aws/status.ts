import {DescribeAutoScalingGroupsCommand} from '@aws-sdk/client-auto-scaling'
import {DescribeLaunchTemplateVersionsCommand, DescribeVpcEndpointConnectionsCommand} from '@aws-sdk/client-ec2'
import {DescribeLoadBalancerAttributesCommand, DescribeLoadBalancersCommand, DescribeTargetGroupAttributesCommand, DescribeTargetHealthCommand} from '@aws-sdk/client-elastic-load-balancing-v2'
import type {DeploymentSpec} from './spec.js'
import type {Resource, Scope} from './step.js'
import {STEPS} from './steps/index.js'
import {HeadObjectCommand} from '@aws-sdk/client-s3'
import {BOOTSTRAP_LOG} from './user-data.js'
import {bucketName} from './steps/bucket.js'
import {ourEndpoints, stateOf} from './steps/endpoints.js'
import {ourNatGateways} from './steps/nat.js'
import {readSettings} from './steps/settings.js'
import {listOwned, type OwnedStep} from './teardown.js'

export type Verdict = 'healthy' | 'degraded' | 'incomplete' | 'absent'

export interface TargetStatus {
  instance: string
  az?: string
  state: string
  reason?: string
}

export interface DeploymentStatus {
  deployment: string
  region: string
  verdict: Verdict
  /** What is unhealthy or pending (degraded), each with what to do where there is something to do. */
  problems: string[]
  /** Where to look for the likely causes of the problems. */
  hints: string[]
  /** Steps with nothing in AWS (incomplete). */
  missing: string[]
  /** `gwlb init …` to finish an incomplete deployment. */
  resume?: string
  settings?: DeploymentSpec
  loadBalancer?: {arn: string; name?: string; state?: string; azs: string[]; crossZone?: boolean}
  targetGroup?: {arn: string; attributes: Record<string, string>; targets: TargetStatus[]}
  endpointService?: {id: string; name?: string}
  endpoints: {id: string; az?: string; subnet?: string; state: string; connection?: string}[]
  routes: Resource[]
  natGateways: {id: string; az?: string; subnet?: string; state: string; elasticIp?: string}[]
  autoScalingGroup?: {name: string; desired: number; min: number; max: number; inService: number; instances: {id: string; az: string; lifecycle: string; health: string; software?: string}[]}
  /** What init staged for the appliances in the deployment's bucket. */
  staged: {key: string; version?: string; sha256?: string}[]
  launchTemplate?: Resource
  iamRole?: Resource
  resources: OwnedStep[]
}

const resourcesOf = (owned: OwnedStep[], id: string) => owned.find((o) => o.id === id)?.resources ?? []

/** How many of a per-AZ resource the settings ask for. */
function expectedCount(stepId: string, spec: DeploymentSpec): number {
  if (stepId === 'endpoints') return spec.endpointSubnets.length
  if (stepId === 'nat-gateways') return spec.natSubnets.length * 2 // a gateway and an address per AZ
  if (stepId === 'routes') return spec.routes.length
  if (stepId === 'egress-routes') return new Set(spec.applianceSubnets).size
  return 1
}

/**
 * What exists of a deployment and how it is doing, from describe/list/get calls only: the verdict is
 * `incomplete` if a part is missing, `degraded` if something is unhealthy or pending, else `healthy`.
 */
export async function deploymentStatus(scope: Scope): Promise<DeploymentStatus> {
  const [owned, settings] = await Promise.all([listOwned(scope), readSettings(scope.aws, scope.deployment)])
  const status: DeploymentStatus = {
    deployment: scope.deployment, region: scope.region, verdict: 'healthy', problems: [], hints: [], missing: [], settings, staged: [],
    endpoints: [], routes: [...resourcesOf(owned, 'routes'), ...resourcesOf(owned, 'egress-routes')], natGateways: [],
    launchTemplate: resourcesOf(owned, 'launch-template')[0], iamRole: resourcesOf(owned, 'iam-role')[0], resources: owned,
  }
  if (owned.every((o) => o.resources.length === 0)) return {...status, verdict: 'absent'}

  if (!settings) status.missing.push('deployment settings (SSM parameter): re-run init with the original flags to restore them')
  else
    for (const step of STEPS.filter((s) => s.enabled(settings) && !['endpoint-connections', 'tgw-appliance-mode', 's3-endpoint'].includes(s.id))) {
      const have = resourcesOf(owned, step.id).length
      const want = expectedCount(step.id, settings)
      if (have < want) status.missing.push(have === 0 ? step.title : `${step.title}: ${have} of ${want}`)
    }

  await Promise.all([
    loadBalancerHealth(scope, owned, status), endpointHealth(scope, owned, status), natHealth(scope, status), fleetHealth(scope, owned, status), stagedSoftware(scope, owned, status),
  ])
  // Target health names the AZ only where it differs from the instance's; the fleet knows every instance's.
  for (const t of status.targetGroup?.targets ?? []) t.az ??= status.autoScalingGroup?.instances.find((i) => i.id === t.instance)?.az
  status.verdict = status.missing.length ? 'incomplete' : status.problems.length ? 'degraded' : 'healthy'
  if (status.verdict === 'incomplete') status.resume = `gwlb init --name ${scope.deployment} --region ${scope.region}`
  return status
}

async function loadBalancerHealth(scope: Scope, owned: OwnedStep[], status: DeploymentStatus): Promise<void> {
  const lb = resourcesOf(owned, 'load-balancer')[0]
  if (lb) {
    const [{LoadBalancers = []}, {Attributes = []}] = await Promise.all([
      scope.aws.elb.send(new DescribeLoadBalancersCommand({LoadBalancerArns: [lb.id]})),
      scope.aws.elb.send(new DescribeLoadBalancerAttributesCommand({LoadBalancerArn: lb.id})),
    ])
    const state = LoadBalancers[0]?.State?.Code
    status.loadBalancer = {
      arn: lb.id, name: lb.name, state, azs: (LoadBalancers[0]?.AvailabilityZones ?? []).map((z) => z.ZoneName!),
      crossZone: Attributes.find((a) => a.Key === 'load_balancing.cross_zone.enabled')?.Value === 'true',
    }
    if (state !== 'active') status.problems.push(`load balancer ${lb.name} is ${state}`)
  }
  const tg = resourcesOf(owned, 'target-group')[0]
  if (!tg) return
  const [{TargetHealthDescriptions = []}, {Attributes = []}] = await Promise.all([
    scope.aws.elb.send(new DescribeTargetHealthCommand({TargetGroupArn: tg.id})),
    scope.aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: tg.id})),
  ])
  const targets = TargetHealthDescriptions.map((t) => ({
    instance: t.Target!.Id!, az: t.Target?.AvailabilityZone, state: t.TargetHealth?.State ?? 'unknown', reason: t.TargetHealth?.Reason ?? t.TargetHealth?.Description,
  }))
  status.targetGroup = {arn: tg.id, attributes: Object.fromEntries(Attributes.map((a) => [a.Key!, a.Value!])), targets}
  if (targets.length === 0) status.problems.push('no appliance is registered in the target group yet')
  const unhealthy = targets.filter((x) => x.state !== 'healthy')
  for (const t of unhealthy) status.problems.push(`appliance ${t.instance} is ${t.state}${t.reason ? ` (${t.reason})` : ''}`)
  if (unhealthy.some((t) => t.state === 'unhealthy' || t.state === 'initial')) {
    const port = status.settings?.healthPort ?? 'the health port'
    const instance = unhealthy[0]!.instance
    status.hints.push(
      `did the appliance boot? \`aws ec2 get-console-output --instance-id ${instance} --latest\` shows lines starting "gwlb bootstrap:" (a failure ends with "FAILED"); on the instance: ${BOOTSTRAP_LOG} and \`journalctl -u gwlb-appliance\``,
      `is its health port reachable? the target group checks TCP ${port} from the appliance subnets: the security group must admit it, and \`curl -i http://127.0.0.1:${port}/\` on the instance must answer 200`,
    )
  }
}

async function endpointHealth(scope: Scope, owned: OwnedStep[], status: DeploymentStatus): Promise<void> {
  const service = resourcesOf(owned, 'endpoint-service')[0]
  if (service) status.endpointService = {id: service.id, name: service.name}
  const [endpoints, connections] = await Promise.all([
    ourEndpoints(scope.aws, scope.deployment),
    service ? scope.aws.ec2.send(new DescribeVpcEndpointConnectionsCommand({Filters: [{Name: 'service-id', Values: [service.id]}]})) : undefined,
  ])
  for (const e of endpoints) {
    const connection = connections?.VpcEndpointConnections?.find((c) => c.VpcEndpointId === e.VpcEndpointId)
    status.endpoints.push({id: e.VpcEndpointId!, subnet: e.SubnetIds?.[0], state: e.State ?? 'unknown', connection: connection?.VpcEndpointState})
    if (stateOf(e) === 'pendingacceptance')
      status.problems.push(`endpoint ${e.VpcEndpointId} waits for acceptance: run gwlb init --name ${scope.deployment}, or aws ec2 accept-vpc-endpoint-connections --service-id ${service?.id} --vpc-endpoint-ids ${e.VpcEndpointId}`)
    else if (stateOf(e) !== 'available') status.problems.push(`endpoint ${e.VpcEndpointId} is ${e.State}`)
  }
}

async function natHealth(scope: Scope, status: DeploymentStatus): Promise<void> {
  for (const nat of await ourNatGateways(scope.aws, scope.deployment, ['pending', 'available', 'failed', 'deleting'])) {
    status.natGateways.push({id: nat.NatGatewayId!, subnet: nat.SubnetId, state: nat.State!, elasticIp: nat.NatGatewayAddresses?.[0]?.PublicIp})
    if (nat.State !== 'available') status.problems.push(`NAT gateway ${nat.NatGatewayId} is ${nat.State}`)
  }
}

async function fleetHealth(scope: Scope, owned: OwnedStep[], status: DeploymentStatus): Promise<void> {
  const group = resourcesOf(owned, 'auto-scaling-group')[0]
  if (!group) return
  const {AutoScalingGroups = []} = await scope.aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [group.id]}))
  const g = AutoScalingGroups[0]
  if (!g) return
  // Each launch-template version names the software it ships: that is what its instances run.
  const versions = [...new Set((g.Instances ?? []).map((i) => i.LaunchTemplate?.Version).filter((v): v is string => Boolean(v)))]
  const template = (g.Instances ?? []).find((i) => i.LaunchTemplate?.LaunchTemplateId)?.LaunchTemplate?.LaunchTemplateId
  const {LaunchTemplateVersions = []} = template && versions.length
    ? await scope.aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateId: template, Versions: versions}))
    : {}
  const software = (version?: string) => LaunchTemplateVersions.find((v) => String(v.VersionNumber) === version)?.VersionDescription
  const instances = (g.Instances ?? []).map((i) => ({
    id: i.InstanceId!, az: i.AvailabilityZone!, lifecycle: i.LifecycleState!, health: i.HealthStatus!, software: software(i.LaunchTemplate?.Version),
  }))
  const inService = instances.filter((i) => i.lifecycle === 'InService').length
  status.autoScalingGroup = {name: g.AutoScalingGroupName!, desired: g.DesiredCapacity!, min: g.MinSize!, max: g.MaxSize!, inService, instances}
  if (inService < g.DesiredCapacity!) status.problems.push(`${inService} of ${g.DesiredCapacity} appliances in service`)
}

async function stagedSoftware(scope: Scope, owned: OwnedStep[], status: DeploymentStatus): Promise<void> {
  const objects = resourcesOf(owned, 'appliance-software')
  if (objects.length === 0) return
  const bucket = await bucketName(scope)
  status.staged = await Promise.all(objects.map(async (o) => {
    const {Metadata = {}} = await scope.aws.s3.send(new HeadObjectCommand({Bucket: bucket, Key: o.id, ExpectedBucketOwner: await scope.aws.account()}))
    return {key: o.id, version: Metadata.version, sha256: Metadata.sha256}
  }))
}
