import type {TargetGroupAttribute} from '@aws-sdk/client-elastic-load-balancing-v2'
import {CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand, DeleteLoadBalancerCommand, DeleteTargetGroupCommand, DescribeListenerAttributesCommand, DescribeListenersCommand, DescribeLoadBalancerAttributesCommand, DescribeTargetHealthCommand, DescribeLoadBalancersCommand, DescribeTagsCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, ModifyListenerAttributesCommand, ModifyLoadBalancerAttributesCommand, ModifyTargetGroupAttributesCommand} from '../../sdk/elastic-load-balancing-v2.js'
import {UserError} from '../../errors.js'
import type {AwsClients} from '../clients.js'
import {TARGET_GROUP_HEALTH, type DeploymentSpec} from '../spec.js'
import {differences, done, drift, names, remember, required, unlessNotFound, type Resource, type Scope, type Step, type StepReport} from '../step.js'
import {healthCheckPairs} from './health-check.js'
import {BOOTSTRAP_LOG} from '../user-data.js'
import {groupInstances} from './fleet.js'
import {DEPLOYMENT_TAG, tags, tagValue} from '../tags.js'
import {errorCode, waitFor} from '../wait.js'
import {GENEVE_PORT} from '../../generated/abi.js'

/** Target group attributes that carry the spec's failover, stickiness and draining choices. */
export function targetGroupAttributes(spec: DeploymentSpec): TargetGroupAttribute[] {
  const failover = spec.failover === 'rebalance' ? 'rebalance' : 'no_rebalance'
  const stickiness = {'5-tuple': undefined, '3-tuple': 'source_ip_dest_ip_proto', '2-tuple': 'source_ip_dest_ip'}[spec.stickiness]
  return [
    {Key: 'deregistration_delay.timeout_seconds', Value: String(spec.deregistrationDelay)},
    {Key: 'target_failover.on_deregistration', Value: failover},
    {Key: 'target_failover.on_unhealthy', Value: failover},
    {Key: 'stickiness.enabled', Value: String(stickiness !== undefined)},
    ...(stickiness ? [{Key: 'stickiness.type', Value: stickiness}] : []),
    {Key: 'send_tcp_reset.on_unhealthy.enabled', Value: String(spec.tcpReset.includes('unhealthy'))},
    {Key: 'send_tcp_reset.on_deregistration.enabled', Value: String(spec.tcpReset.includes('deregistration'))},
  ]
}

/** Listener attributes: how long an idle TCP flow lives, and whether its end is a reset. */
const listenerAttributes = (spec: DeploymentSpec) => [
  {Key: 'tcp.idle_timeout.seconds', Value: String(spec.tcpIdleTimeout)},
  {Key: 'send_tcp_reset.on_idle_timeout.enabled', Value: String(spec.tcpReset.includes('idle'))},
]

const listenerPairs = (attributes: {Key?: string; Value?: string}[], spec: DeploymentSpec): [string, unknown, unknown][] =>
  listenerAttributes(spec).map((want) => [want.Key, attributes.find((a) => a.Key === want.Key)?.Value, want.Value])

/** Each attribute as the target group has it, beside what the spec asks. */
const attributePairs = (attributes: TargetGroupAttribute[], spec: DeploymentSpec): [string, unknown, unknown][] =>
  targetGroupAttributes(spec).map((want) => [want.Key!, attributes.find((a) => a.Key === want.Key)?.Value, want.Value])

async function ownerOf(aws: AwsClients, arn: string): Promise<string | undefined> {
  const {TagDescriptions = []} = await aws.elb.send(new DescribeTagsCommand({ResourceArns: [arn]}))
  return tagValue(TagDescriptions[0]?.Tags, DEPLOYMENT_TAG)
}

const ownerRemembered = (scope: Scope, arn: string) => remember(scope, `owner ${arn}`, () => ownerOf(scope.aws, arn))

/** A load balancer or target group of that name that is not ours is a clash to report, never to adopt. */
async function ownedBy(aws: AwsClients, arn: string, spec: DeploymentSpec, what: string): Promise<void> {
  const owner = await ownerOf(aws, arn)
  if (owner !== spec.name)
    throw new UserError(`${what} already exists and is not part of deployment ${spec.name}${owner ? ` (it belongs to ${owner})` : ''}`, 'choose another --name')
}

/** For describe-by-name calls that answer "not found" with an error: an empty list instead. */
const ignoreNotFound = (codes: string[]) => (error: unknown): {TargetGroups?: never[]; LoadBalancers?: never[]} => {
  if (codes.includes(errorCode(error))) return {}
  throw error
}

export const targetGroup: Step = {
  id: 'target-group',
  title: 'GENEVE target group',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).targetGroup
    const {TargetGroups = []} = await ctx.aws.elb.send(new DescribeTargetGroupsCommand({Names: [name]})).catch(ignoreNotFound(['TargetGroupNotFoundException', 'TargetGroupNotFound']))
    const group = TargetGroups[0]
    if (!group) return {resources: [], missing: [`target group ${name} (GENEVE ${GENEVE_PORT}, ${ctx.spec.healthProtocol} health checks on ${ctx.spec.healthPort})`]}
    await ownedBy(ctx.aws, group.TargetGroupArn!, ctx.spec, `target group ${name}`)
    const {Attributes = []} = await ctx.aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: group.TargetGroupArn}))
    return {resources: [{type: 'target-group', id: group.TargetGroupArn!, name}], missing: differences(attributePairs(Attributes, ctx.spec))}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).targetGroup
    let arn = found.resources[0]?.id
    if (!arn) {
      const {TargetGroups} = await ctx.aws.elb.send(new CreateTargetGroupCommand({
        Name: name,
        Protocol: 'GENEVE',
        Port: GENEVE_PORT,
        VpcId: ctx.spec.vpcId,
        TargetType: 'instance',
        HealthCheckProtocol: ctx.spec.healthProtocol,
        HealthCheckPort: String(ctx.spec.healthPort),
        ...(ctx.spec.healthProtocol === 'HTTP' ? {HealthCheckPath: '/'} : {}),
        HealthCheckIntervalSeconds: TARGET_GROUP_HEALTH.intervalSeconds,
        HealthCheckTimeoutSeconds: TARGET_GROUP_HEALTH.timeoutSeconds,
        HealthyThresholdCount: TARGET_GROUP_HEALTH.healthyThreshold,
        UnhealthyThresholdCount: TARGET_GROUP_HEALTH.unhealthyThreshold,
        Tags: tags(ctx.spec.name, name),
      }))
      arn = TargetGroups![0]!.TargetGroupArn!
    }
    await ctx.aws.elb.send(new ModifyTargetGroupAttributesCommand({TargetGroupArn: arn, Attributes: targetGroupAttributes(ctx.spec)}))
    return done([{type: 'target-group', id: arn, name}])
  },

  async report(scope, found): Promise<StepReport> {
    const tg = found[0]!
    const [{TargetHealthDescriptions = []}, {Attributes = []}, instances, {TargetGroups = []}] = await Promise.all([
      scope.aws.elb.send(new DescribeTargetHealthCommand({TargetGroupArn: tg.id})),
      scope.aws.elb.send(new DescribeTargetGroupAttributesCommand({TargetGroupArn: tg.id})),
      groupInstances(scope),
      scope.aws.elb.send(new DescribeTargetGroupsCommand({TargetGroupArns: [tg.id]})),
    ])
    // Target health names the AZ only where it differs from the instance's; the group knows every instance's.
    const targets = TargetHealthDescriptions.map((t) => ({
      instance: t.Target!.Id!, az: t.Target?.AvailabilityZone ?? instances.find((i) => i.InstanceId === t.Target!.Id)?.AvailabilityZone,
      state: t.TargetHealth?.State ?? 'unknown', reason: t.TargetHealth?.Reason ?? t.TargetHealth?.Description,
    }))
    const attributes = Object.fromEntries(Attributes.map((a) => [a.Key!, a.Value!]))
    const unhealthy = targets.filter((x) => x.state !== 'healthy')
    return {
      problems: [
        ...(scope.settings ? drift(scope, [...healthCheckPairs(TargetGroups[0]!, scope.settings), ...attributePairs(Attributes, scope.settings)]) : []),
        ...(targets.length ? [] : ['no appliance is registered in the target group yet']),
        ...unhealthy.map((t) => `appliance ${t.instance} is ${t.state}${t.reason ? ` (${t.reason})` : ''}`),
      ],
      hints: unhealthy.some((t) => t.state === 'unhealthy' || t.state === 'initial') ? unhealthyHints(unhealthy[0]!.instance, scope.settings?.healthPort ?? 'the health port') : [],
      detail: {arn: tg.id, attributes, targets} satisfies TargetGroupDetail,
      summary: `Target group: stickiness ${attributes['stickiness.enabled'] === 'true' ? attributes['stickiness.type'] : '5-tuple'}, failover ${attributes['target_failover.on_unhealthy']}, draining ${attributes['deregistration_delay.timeout_seconds']}s`,
      table: targets.length ? [['instance', 'AZ', 'health', 'reason'], ...targets.map((t) => [t.instance, t.az ?? '', t.state, t.reason ?? ''])] : undefined,
    }
  },

  async owned(scope) {
    const name = names({name: scope.deployment}, scope.region).targetGroup
    return ours(scope, (await targetGroupsNamed(scope)).map((g) => ({type: 'target-group', id: g.TargetGroupArn!, name})))
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.elb.send(new DeleteTargetGroupCommand({TargetGroupArn: r.id})).catch(unlessNotFound())
  },
}

/** Of the resources found by name, those that carry this deployment's tag. */
async function ours(scope: Scope, found: Resource[]): Promise<Resource[]> {
  const owners = await Promise.all(found.map((r) => ownerRemembered(scope, r.id)))
  return found.filter((_, i) => owners[i] === scope.deployment)
}

const CROSS_ZONE = 'load_balancing.cross_zone.enabled'
const crossZonePairs = (attributes: {Key?: string; Value?: string}[], spec: DeploymentSpec): [string, unknown, unknown][] =>
  [['cross-zone', attributes.find((a) => a.Key === CROSS_ZONE)?.Value ?? 'false', String(spec.crossZone)]]

/** The target groups of the deployment's name (its own, or a clash), read once per status run. */
const targetGroupsNamed = (scope: Scope) => remember(scope, 'target-groups', async () => {
  const name = names({name: scope.deployment}, scope.region).targetGroup
  const {TargetGroups = []} = await scope.aws.elb.send(new DescribeTargetGroupsCommand({Names: [name]})).catch(ignoreNotFound(['TargetGroupNotFoundException', 'TargetGroupNotFound']))
  return TargetGroups
})

/** The deployment's GWLB and target group as CloudWatch names them (status's traffic), if both are there. */
export async function fleetMetricsSource(scope: Scope): Promise<{loadBalancerArn: string; azs: string[]; targetGroupArn?: string} | undefined> {
  const name = names({name: scope.deployment}, scope.region).loadBalancer
  const [lb, groups] = await Promise.all([remember(scope, `load-balancer:${name}`, () => describeLoadBalancer(scope.aws, name)), targetGroupsNamed(scope)])
  if (!lb || (await ownerRemembered(scope, lb.LoadBalancerArn!)) !== scope.deployment) return undefined
  return {loadBalancerArn: lb.LoadBalancerArn!, azs: (lb.AvailabilityZones ?? []).map((z) => z.ZoneName!), targetGroupArn: groups[0]?.TargetGroupArn}
}

async function describeLoadBalancer(aws: AwsClients, name: string) {
  const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: [name]})).catch(ignoreNotFound(['LoadBalancerNotFoundException', 'LoadBalancerNotFound']))
  return LoadBalancers[0]
}

export interface LoadBalancerDetail {
  arn: string
  name?: string
  state?: string
  azs: string[]
  crossZone: boolean
}

export interface TargetStatus {
  instance: string
  az?: string
  state: string
  reason?: string
}

export interface TargetGroupDetail {
  arn: string
  attributes: Record<string, string>
  targets: TargetStatus[]
}

/** Where to look when appliances do not become healthy: the boot first, then the way to the health port. */
function unhealthyHints(instance: string, port: number | string): string[] {
  return [
    `did the appliance boot? \`aws ec2 get-console-output --instance-id ${instance} --latest\` shows lines starting "gwlb bootstrap:" (a failure ends with "FAILED"); on the instance: ${BOOTSTRAP_LOG} and \`journalctl -u gwlb-appliance\``,
    `is its health port reachable? the target group checks TCP ${port} from the appliance subnets: the security group must admit it, and \`curl -i http://127.0.0.1:${port}/\` on the instance must answer 200`,
  ]
}

export const loadBalancer: Step = {
  id: 'load-balancer',
  title: 'Gateway Load Balancer',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).loadBalancer
    const lb = await describeLoadBalancer(ctx.aws, name)
    if (!lb) return {resources: [], missing: [`gateway load balancer ${name} in ${ctx.spec.applianceSubnets.length} AZs`]}
    await ownedBy(ctx.aws, lb.LoadBalancerArn!, ctx.spec, `load balancer ${name}`)
    const missing: string[] = []
    if (lb.State?.Code !== 'active') missing.push(`state active (now ${lb.State?.Code})`)
    const {Attributes = []} = await ctx.aws.elb.send(new DescribeLoadBalancerAttributesCommand({LoadBalancerArn: lb.LoadBalancerArn}))
    missing.push(...differences(crossZonePairs(Attributes, ctx.spec)))
    const azs = (lb.AvailabilityZones ?? []).map((z) => z.ZoneName).join(', ')
    return {resources: [{type: 'load-balancer', id: lb.LoadBalancerArn!, name, detail: `${lb.State?.Code}, ${azs}`}], missing}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).loadBalancer
    let arn = found.resources[0]?.id
    if (!arn) {
      const {LoadBalancers} = await ctx.aws.elb.send(new CreateLoadBalancerCommand({
        Name: name,
        Type: 'gateway',
        Subnets: ctx.spec.applianceSubnets,
        Tags: tags(ctx.spec.name, name),
      }))
      arn = LoadBalancers![0]!.LoadBalancerArn!
    }
    await ctx.aws.elb.send(new ModifyLoadBalancerAttributesCommand({LoadBalancerArn: arn, Attributes: [{Key: CROSS_ZONE, Value: String(ctx.spec.crossZone)}]}))
    const started = Date.now()
    const lb = await waitFor(async () => {
      const current = await describeLoadBalancer(ctx.aws, name)
      if (current?.State?.Code === 'failed') throw new Error(`load balancer ${name} failed: ${current.State.Reason ?? 'no reason given'}`)
      return current?.State?.Code === 'active' ? current : undefined
    }, {what: `load balancer ${name} to become active`, timeoutMs: ctx.timing.timeoutMs, intervalMs: ctx.timing.pollMs,
      progress: (s) => ctx.progress(`provisioning, ${s}s`)})
    const azs = (lb.AvailabilityZones ?? []).map((z) => z.ZoneName).join(', ')
    ctx.progress(`active after ${Math.round((Date.now() - started) / 1000)}s`)
    return done([{type: 'load-balancer', id: arn, name, detail: `active, ${azs}`}])
  },

  async owned(scope) {
    const name = names({name: scope.deployment}, scope.region).loadBalancer
    const lb = await remember(scope, `load-balancer:${name}`, () => describeLoadBalancer(scope.aws, name))
    return lb ? ours(scope, [{type: 'load-balancer', id: lb.LoadBalancerArn!, name, detail: lb.State?.Code}]) : []
  },

  async report(scope, found): Promise<StepReport> {
    const name = found[0]!.name!
    const [lb, {Attributes = []}] = await Promise.all([
      remember(scope, `load-balancer:${name}`, () => describeLoadBalancer(scope.aws, name)),
      scope.aws.elb.send(new DescribeLoadBalancerAttributesCommand({LoadBalancerArn: found[0]!.id})),
    ])
    const detail: LoadBalancerDetail = {
      arn: found[0]!.id, name, state: lb?.State?.Code, azs: (lb?.AvailabilityZones ?? []).map((z) => z.ZoneName!),
      crossZone: Attributes.find((a) => a.Key === CROSS_ZONE)?.Value === 'true',
    }
    return {
      problems: [...(detail.state === 'active' ? [] : [`load balancer ${name} is ${detail.state}`]), ...(scope.settings ? drift(scope, crossZonePairs(Attributes, scope.settings)) : [])],
      hints: [], detail,
      summary: `Gateway Load Balancer ${name}: ${detail.state}, ${detail.azs.join(', ')}, cross-zone ${detail.crossZone ? 'on' : 'off'}`,
    }
  },

  async remove(scope, owned) {
    for (const r of owned) {
      await scope.aws.elb.send(new DeleteLoadBalancerCommand({LoadBalancerArn: r.id})).catch(unlessNotFound())
      // The target group can only go once no load balancer uses it.
      await waitFor(async () => ((await describeLoadBalancer(scope.aws, r.name!)) ? undefined : true), {
        what: `load balancer ${r.name} to be deleted`, timeoutMs: scope.timing.timeoutMs, intervalMs: scope.timing.pollMs, progress: (s) => scope.progress(`deleting, ${s}s`),
      })
    }
  },
}

export const listener: Step = {
  id: 'listener',
  title: 'Listener',
  needs: ['load-balancer', 'target-group'],
  enabled: () => true,

  async find(ctx) {
    const lb = ctx.states.get('load-balancer')?.resources[0]
    const found = lb ? (await ctx.aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: lb.id}))).Listeners?.[0] : undefined
    if (!found) return {resources: [], missing: ['listener forwarding to the target group']}
    const {Attributes = []} = await ctx.aws.elb.send(new DescribeListenerAttributesCommand({ListenerArn: found.ListenerArn}))
    return {resources: [{type: 'listener', id: found.ListenerArn!}], missing: differences(listenerPairs(Attributes, ctx.spec))}
  },

  async create(ctx, found) {
    // A GWLB listener has no protocol or port: it forwards every IP packet.
    const arn = found.resources[0]?.id ?? (await ctx.aws.elb.send(new CreateListenerCommand({
      LoadBalancerArn: required(ctx, 'load-balancer').id,
      DefaultActions: [{Type: 'forward', TargetGroupArn: required(ctx, 'target-group').id}],
      Tags: tags(ctx.spec.name, `gwlb-${ctx.spec.name}`),
    }))).Listeners![0]!.ListenerArn!
    await ctx.aws.elb.send(new ModifyListenerAttributesCommand({ListenerArn: arn, Attributes: listenerAttributes(ctx.spec)}))
    return done([{type: 'listener', id: arn}])
  },

  /** Its TCP idle timeout and reset, beside the settings. */
  async report(scope, found) {
    const {Attributes = []} = await scope.aws.elb.send(new DescribeListenerAttributesCommand({ListenerArn: found[0]!.id}))
    const get = (key: string) => Attributes.find((a) => a.Key === key)?.Value
    return {
      problems: scope.settings ? drift(scope, listenerPairs(Attributes, scope.settings)) : [],
      hints: [],
      detail: {attributes: Object.fromEntries(Attributes.map((a) => [a.Key!, a.Value!]))},
      summary: `Listener: TCP idle timeout ${get('tcp.idle_timeout.seconds') ?? 350} s${get('send_tcp_reset.on_idle_timeout.enabled') === 'true' ? ', reset when idle' : ''}`,
    }
  },

  async owned(scope) {
    const [lb] = await loadBalancer.owned(scope)
    if (!lb) return []
    const {Listeners = []} = await scope.aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: lb.id}))
    return Listeners.map((l) => ({type: 'listener', id: l.ListenerArn!}))
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.elb.send(new DeleteListenerCommand({ListenerArn: r.id})).catch(unlessNotFound())
  },
}
