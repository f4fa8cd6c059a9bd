import type {MetricDataQuery} from '@aws-sdk/client-cloudwatch'
import {GetMetricDataCommand} from '../sdk/cloudwatch.js'
import {DescribeInstancesCommand} from '../sdk/ec2.js'
import {natEgress} from '../mode.js'
import {initCommand, type Scope, type StatusScope} from './step.js'
import {endpointsOf, stateOf} from './steps/endpoints.js'
import {groupInstances} from './steps/fleet.js'
import {fleetMetricsSource} from './steps/load-balancer.js'

/** What `status` says the fleet carried: the last WINDOW_MINUTES of CloudWatch, in one GetMetricData call. */
export const WINDOW_MINUTES = 5

export interface AzTraffic {
  az: string
  /** The GWLB's flows at the most, flows begun, bytes through it, and its healthy and unhealthy appliances (the fewest and most seen). */
  activeFlows: number
  newFlows: number
  bytes: number
  healthy: number
  unhealthy: number
}

export interface FleetTraffic {
  minutes: number
  azs: AzTraffic[]
  /** Packets each appliance received (EC2's NetworkPacketsIn: GENEVE from the GWLB, and replies in two-arm). */
  appliances: {id: string; packetsIn: number}[]
}

/** Where the fleet is: its GWLB and target group (by ARN), their AZs, its instances. */
interface TrafficSource {
  loadBalancerArn: string
  targetGroupArn?: string
  azs: string[]
  instances: string[]
}

/** CloudWatch's dimension values: the load balancer's ARN after `:loadbalancer/`, the target group's last part. */
const loadBalancerDimension = (arn: string) => arn.slice(arn.indexOf(':loadbalancer/') + ':loadbalancer/'.length)
const targetGroupDimension = (arn: string) => arn.slice(arn.lastIndexOf(':') + 1)

type Stat = 'Maximum' | 'Minimum' | 'Sum'
const QUERIES: {key: Exclude<keyof AzTraffic, 'az'>; metric: string; stat: Stat; perTargetGroup?: boolean}[] = [
  {key: 'activeFlows', metric: 'ActiveFlowCount', stat: 'Maximum'},
  {key: 'newFlows', metric: 'NewFlowCount', stat: 'Sum'},
  {key: 'bytes', metric: 'ProcessedBytes', stat: 'Sum'},
  {key: 'healthy', metric: 'HealthyHostCount', stat: 'Minimum', perTargetGroup: true},
  {key: 'unhealthy', metric: 'UnHealthyHostCount', stat: 'Maximum', perTargetGroup: true},
]

/** One value of a window's data points, as the statistic reads them together. */
const combine = (stat: Stat, values: number[]) =>
  values.length === 0 ? 0 : stat === 'Sum' ? values.reduce((a, b) => a + b, 0) : stat === 'Maximum' ? Math.max(...values) : Math.min(...values)

async function readTraffic(scope: Scope, source: TrafficSource): Promise<FleetTraffic> {
  const loadBalancer = {Name: 'LoadBalancer', Value: loadBalancerDimension(source.loadBalancerArn)}
  const queries: MetricDataQuery[] = []
  const read: {id: string; stat: Stat; put: (v: number) => void}[] = []
  const azs = source.azs.map((az): AzTraffic => ({az, activeFlows: 0, newFlows: 0, bytes: 0, healthy: 0, unhealthy: 0}))
  const appliances = source.instances.map((id) => ({id, packetsIn: 0}))
  const ask = (id: string, namespace: string, metric: string, stat: Stat, dimensions: {Name: string; Value: string}[], put: (v: number) => void) => {
    queries.push({Id: id, MetricStat: {Metric: {Namespace: namespace, MetricName: metric, Dimensions: dimensions}, Period: 60, Stat: stat}, ReturnData: true})
    read.push({id, stat, put})
  }
  azs.forEach((t, i) => QUERIES.forEach((q, j) => {
    if (q.perTargetGroup && !source.targetGroupArn) return
    const targetGroup = q.perTargetGroup ? [{Name: 'TargetGroup', Value: targetGroupDimension(source.targetGroupArn!)}] : []
    ask(`az${i}q${j}`, 'AWS/GatewayELB', q.metric, q.stat, [loadBalancer, ...targetGroup, {Name: 'AvailabilityZone', Value: t.az}], (v) => (t[q.key] = v))
  }))
  appliances.forEach((a, i) => ask(`i${i}`, 'AWS/EC2', 'NetworkPacketsIn', 'Sum', [{Name: 'InstanceId', Value: a.id}], (v) => (a.packetsIn = v)))
  const end = new Date()
  const results = new Map<string, number[]>()
  let NextToken: string | undefined
  do {
    const page = await scope.aws.cloudwatch.send(new GetMetricDataCommand({MetricDataQueries: queries, StartTime: new Date(end.getTime() - WINDOW_MINUTES * 60_000), EndTime: end, NextToken}))
    for (const r of page.MetricDataResults ?? []) results.set(r.Id!, [...(results.get(r.Id!) ?? []), ...(r.Values ?? [])])
    NextToken = page.NextToken
  } while (NextToken)
  for (const r of read) r.put(combine(r.stat, results.get(r.id) ?? []))
  return {minutes: WINDOW_MINUTES, azs, appliances}
}

export interface TrafficStatus extends FleetTraffic {
  /** Appliances that cannot carry traffic whatever comes (two-arm with the source/destination check on). */
  problems: string[]
  /** The fleet is healthy and carried nothing: what status can see that would explain it, each with its fix. */
  idle?: string[]
}

/**
 * What the fleet carried in the last minutes (one GetMetricData call), and, where it is healthy and carried
 * nothing, why that could be: no route sends traffic to the endpoints, an endpoint not available, an appliance
 * whose source/destination check is on (two-arm: EC2 drops what it forwards for others).
 */
export async function trafficStatus(scope: StatusScope): Promise<TrafficStatus | undefined> {
  const fleet = await fleetMetricsSource(scope)
  if (!fleet) return undefined
  const instances = (await groupInstances(scope)).map((i) => i.InstanceId!)
  const [traffic, checked] = await Promise.all([readTraffic(scope, {...fleet, instances}), scope.settings && !natEgress(scope.settings.mode) ? [] : checkedInstances(scope, instances)])
  const problems = checked.map((id) => `${id} has its source/destination check on, so EC2 drops what it forwards for others: it turns it off itself at start (journalctl -u gwlb-appliance on it), or aws ec2 modify-instance-attribute --instance-id ${id} --no-source-dest-check`)
  const sum = (key: 'healthy' | 'newFlows' | 'bytes') => traffic.azs.reduce((n, t) => n + t[key], 0)
  if (sum('healthy') === 0 || sum('newFlows') > 0 || sum('bytes') > 0) return {...traffic, problems}
  const endpoints = (await endpointsOf(scope)).filter((e) => stateOf(e) !== 'available')
  const causes = [
    ...(scope.settings && scope.settings.routes.length === 0 ? [`no route sends traffic to the endpoints: ${initCommand(scope)} --route ROUTE_TABLE_ID=CIDR`] : []),
    ...endpoints.map((e) => `endpoint ${e.VpcEndpointId} is ${stateOf(e)}: ${initCommand(scope)} accepts its connection`),
    ...problems,
  ]
  return {...traffic, problems, idle: causes.length ? causes : [`nothing here explains it: the workloads' route tables must send their traffic to the endpoints, and the clients be in the subnets those tables serve`]}
}

/** The instances whose source/destination check is on. */
async function checkedInstances(scope: Scope, ids: string[]): Promise<string[]> {
  if (!ids.length) return []
  const {Reservations = []} = await scope.aws.ec2.send(new DescribeInstancesCommand({InstanceIds: ids}))
  return Reservations.flatMap((r) => r.Instances ?? []).filter((i) => i.SourceDestCheck !== false).map((i) => i.InstanceId!)
}
