import {beforeAll, describe, expect, it} from 'vitest'
import type {AwsClients} from '../../src/aws/clients.js'
import {deploymentStatus} from '../../src/aws/status.js'
import type {FleetDetail} from '../../src/aws/steps/fleet.js'
import {gwlbJson} from '../helpers/cli.js'
import {detail} from '../helpers/status.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork} from '../helpers/network-fixture.js'

const {clients} = useMoto()

type Output = Record<string, unknown[] | undefined>

/**
 * The emulator makes everything healthy at once; AWS does not. These tests take the emulator's real
 * answers and change, per call, the states it cannot show (as AWS would answer mid-way).
 */
function rewrite(aws: AwsClients, command: string, change: (output: Output) => void): void {
  for (const client of [aws.ec2, aws.elb, aws.autoscaling] as {middlewareStack: {add(mw: unknown, o: unknown): void}}[])
    client.middlewareStack.add(
      (next: (a: unknown) => Promise<{output: Output}>, context: {commandName: string}) => async (args: unknown) => {
        const result = await next(args)
        if (context.commandName === command) change(result.output)
        return result
      },
      {step: 'initialize', name: `rewrite${command}`},
    )
}

const status = (aws: AwsClients) => deploymentStatus({aws, deployment: 'egress', region: 'us-east-1', timing: {pollMs: 0, timeoutMs: 0}, progress: () => undefined})

describe('gwlb status on the way to healthy and back', () => {
  beforeAll(async () => {
    gwlbJson(['init', ...initFlags(await makeNetwork(clients()))])
  })

  it('flags unhealthy and draining appliances, with their reasons', async () => {
    const aws = clients()
    rewrite(aws, 'DescribeTargetHealthCommand', (out) => {
      const [a, b] = out.TargetHealthDescriptions as {TargetHealth: unknown}[]
      a!.TargetHealth = {State: 'unhealthy', Reason: 'Target.FailedHealthChecks'}
      b!.TargetHealth = {State: 'draining', Reason: 'Target.DeregistrationInProgress'}
    })
    const s = await status(aws)
    expect(s.verdict).toBe('degraded')
    expect(s.problems).toEqual([
      expect.stringMatching(/^appliance i-\w+ is unhealthy \(Target.FailedHealthChecks\)$/),
      expect.stringMatching(/^appliance i-\w+ is draining \(Target.DeregistrationInProgress\)$/),
    ])
    // Where to look: the boot's own lines on the console and in its log, and the health port's way in.
    expect(s.hints).toEqual([
      expect.stringMatching(/^did the appliance boot\? `aws ec2 get-console-output --instance-id i-\w+ --latest` shows lines starting "gwlb bootstrap:".*\/var\/log\/gwlb-bootstrap\.log/),
      expect.stringMatching(/^is its health port reachable\? the target group checks TCP 80 from the appliance subnets/),
    ])
  })

  it('flags a connection waiting for acceptance with the command that accepts it, then sees it pending, then healthy', async () => {
    const aws = clients()
    let state: string | undefined = 'pendingAcceptance'
    rewrite(aws, 'DescribeVpcEndpointsCommand', (out) => {
      const endpoint = (out.VpcEndpoints as {State: string; VpcEndpointType: string}[]).find((e) => e.VpcEndpointType === 'GatewayLoadBalancer')
      if (state && endpoint) endpoint.State = state
    })
    const first = await status(aws)
    expect(first.verdict).toBe('degraded')
    expect(first.problems).toEqual([expect.stringMatching(/^endpoint vpce-\w+ waits for acceptance: run gwlb init --yes --name egress --region us-east-1, or aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-\w+ --vpc-endpoint-ids vpce-\w+$/)])
    state = 'pending'
    const second = await status(aws)
    expect(second.problems).toEqual([expect.stringMatching(/^endpoint vpce-\w+ is pending$/)])
    state = undefined
    expect((await status(aws)).verdict).toBe('healthy')
  })

  it('counts appliances still launching against the desired capacity', async () => {
    const aws = clients()
    rewrite(aws, 'DescribeAutoScalingGroupsCommand', (out) => {
      const [group] = out.AutoScalingGroups as {Instances: {LifecycleState: string}[]}[]
      group!.Instances[0]!.LifecycleState = 'Pending'
    })
    const s = await status(aws)
    expect(s.problems).toContain('1 of 2 appliances in service')
    expect(detail<FleetDetail>(s, 'auto-scaling-group').instances.map((i) => i.lifecycle).sort()).toEqual(['InService', 'Pending'])
  })

  it('names a scaling activity that failed in the last hour, with AWS\'s reason; older ones and successes are history only', async () => {
    const aws = clients()
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000)
    rewrite(aws, 'DescribeScalingActivitiesCommand', (out) => {
      out.Activities = [
        {StartTime: ago(5), StatusCode: 'Failed', Description: 'Launching a new EC2 instance.  Status Reason: We currently do not have sufficient c6i.large capacity', StatusMessage: 'InsufficientInstanceCapacity'},
        {StartTime: ago(20), StatusCode: 'Successful', Description: 'Terminating EC2 instance: i-0aaaaaaaaaaaaaaa1'},
        {StartTime: ago(120), StatusCode: 'Failed', Description: 'Launching a new EC2 instance (an old failure)'},
      ]
    })
    const s = await status(aws)
    expect(s.problems).toEqual([expect.stringMatching(/^scaling activity failed at \S+: Launching a new EC2 instance\. {2}Status Reason: We currently do not have sufficient c6i\.large capacity — InsufficientInstanceCapacity$/)])
    expect(detail<FleetDetail>(s, 'auto-scaling-group').activities.map((a) => a.status)).toEqual(['Failed', 'Successful', 'Failed'])
  })

  it('reports a load balancer that is still provisioning', async () => {
    const aws = clients()
    rewrite(aws, 'DescribeLoadBalancersCommand', (out) => {
      ;(out.LoadBalancers as {State: unknown}[])[0]!.State = {Code: 'provisioning'}
    })
    expect((await status(aws)).problems).toContain('load balancer gwlb-egress is provisioning')
  })
})
