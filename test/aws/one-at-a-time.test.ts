import {CreateVpcEndpointCommand} from '@aws-sdk/client-ec2'
import {GetParameterCommand} from '@aws-sdk/client-ssm'
import {spawn} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {acquireLock, lockParameter} from '../../src/aws/lock.js'
import type {DeploymentStatus} from '../../src/aws/status.js'
import {gwlb, gwlbAsync, gwlbInTerminal, gwlbJson} from '../helpers/cli.js'
import {slowProxy} from '../helpers/slow-proxy.js'
import {inventory, nothing, WHOLE_DEPLOYMENT} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork} from '../helpers/network-fixture.js'

const {clients, endpoint} = useMoto({resetEach: true})

const errorOf = (stdout: string) => (JSON.parse(stdout) as {error: {code: string; message: string; hint: string}}).error
const lockExists = async (deployment: string) =>
  clients().ssm.send(new GetParameterCommand({Name: lockParameter(deployment)})).then(() => true, () => false)

/** A process that takes the lock and is then killed -9: it never lets go. */
function holdLockInChild(deployment: string, leaseMs: number) {
  const script = `import {AwsClients} from './dist/aws/clients.js'; import {acquireLock} from './dist/aws/lock.js'
    await acquireLock(new AwsClients({}), ${JSON.stringify(deployment)}, 'gwlb init', {leaseMs: ${leaseMs}}); console.log('held'); setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
  const held = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve()))
  return {child, held}
}

describe('one apply at a time', () => {
  it('two inits started together make one of everything; a loser says who holds the deployment', async () => {
    for (const [round, cidr] of [[1, '10.1.0.0/16'], [2, '10.2.0.0/16'], [3, '10.3.0.0/16']] as const) {
      const net = await makeNetwork(clients(), cidr)
      const name = `race${round}`
      const runs = await Promise.all([1, 2].map(() => gwlbAsync(['init', ...initFlags(net, name), '--json'])))
      expect(runs.some((r) => r.status === 0)).toBe(true)
      for (const r of runs.filter((x) => x.status !== 0)) {
        expect(errorOf(r.stdout)).toMatchObject({code: 'locked', message: expect.stringMatching(new RegExp(`^deployment ${name} is locked: another gwlb run is changing it: gwlb init on \\S+ \\(pid \\d+\\) since `))})
      }
      expect(await inventory(clients(), name)).toEqual(WHOLE_DEPLOYMENT)
      expect(await lockExists(name)).toBe(false)
    }
  })

  it('a run killed -9 holds the lock only until its lease lapses; a live run keeps renewing it', async () => {
    const aws = clients()
    const {child, held} = holdLockInChild('egress', 1500)
    await held
    // Alive past its lease: still held (renewed).
    await new Promise((r) => setTimeout(r, 2000))
    await expect(acquireLock(aws, 'egress', 'gwlb destroy')).rejects.toMatchObject({code: 'locked'})
    child.kill('SIGKILL')
    const started = Date.now()
    const lock = await acquireLock(aws, 'egress', 'gwlb destroy', {waitMs: 10_000, pollMs: 100})
    expect(Date.now() - started).toBeLessThan(3000)
    await lock.release()
    expect(await lockExists('egress')).toBe(false)
  })

  it('--lock-wait waits for the other run to finish, then goes on', async () => {
    const net = await makeNetwork(clients())
    const other = await acquireLock(clients(), 'egress', 'gwlb init')
    let released = false
    const r = await gwlbAsync(['init', ...initFlags(net), '--lock-wait', '60'], {}, {
      onOutput: (output) => {
        if (released || !/waiting for gwlb init on \S+ \(pid \d+\)/.test(output)) return
        released = true
        void other.release()
      },
    })
    expect(released).toBe(true)
    expect(r.status).toBe(0)
    expect(await inventory(clients(), 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })

  it('Ctrl-C while waiting for the lock exits 130 with one line, and leaves the other run\'s lock alone', async () => {
    const net = await makeNetwork(clients())
    const other = await acquireLock(clients(), 'egress', 'gwlb init')
    const blocked = gwlbAsync(['init', ...initFlags(net), '--lock-wait', '60'], {}, {signalAfter: /waiting for gwlb init/})
    const r = await blocked
    expect(r.status).toBe(130)
    expect(r.stderr.trim().split('\n').at(-1)).toBe('Error: interrupted: gwlb init stopped part-way — what it made is kept and tagged; run the same command again to resume')
    expect(nothing(await inventory(clients(), 'egress'))).toBe(true)
    // The lock it waited for is the other run's still.
    expect(await lockExists('egress')).toBe(true)
    await other.release()
  })

  it('Ctrl-C in the middle of init lets go of the lock and exits 130; the re-run completes it', async () => {
    const net = await makeNetwork(clients())
    const r = await gwlbAsync(['init', ...initFlags(net)], {}, {signalAfter: /Launch template/})
    expect(r.status).toBe(130)
    expect(r.stderr).toMatch(/Error: interrupted: gwlb init stopped part-way/)
    expect(await lockExists('egress')).toBe(false)
    gwlbJson(['init', ...initFlags(net)])
    expect(await inventory(clients(), 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })

  // A terminal's Ctrl-C reaches the whole process group; the task list's renderer listens for it too.
  it('Ctrl-C typed in a terminal while the task list runs: one line, exit 130, the lock let go', async () => {
    const net = await makeNetwork(clients())
    const r = await gwlbInTerminal(['init', ...initFlags(net)], {ctrlCAfter: /◼ Auto Scaling group/})
    expect(r.status).toBe(130)
    expect(r.screen.trim().split('\n').at(-1)).toBe('Error: interrupted: gwlb init stopped part-way — what it made is kept and tagged; run the same command again to resume')
    expect(await lockExists('egress')).toBe(false)
  })

  it('Ctrl-C typed while the lock\'s write is still unanswered: the lock it then gets is let go too', async () => {
    const net = await makeNetwork(clients())
    const proxy = await slowProxy(endpoint, 'AmazonSSM.PutParameter', 1500)
    try {
      const r = await gwlbInTerminal(['init', ...initFlags(net)], {env: {AWS_ENDPOINT_URL: proxy.url}, ctrlCWhen: proxy.seen})
      expect(await lockExists('egress')).toBe(false)
      expect(r.status).toBe(130)
      expect(r.screen).toContain('Error: interrupted: gwlb init stopped part-way')
    } finally {
      await proxy.close()
    }
  })
})

describe('more than the settings ask for', () => {
  it('a twin endpoint (from a run that was cut off) is a fault in status, and destroy removes it with the rest', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net)])
    const aws = clients()
    const service = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!.steps.find((s) => s.id === 'endpoint-service')!.resources[0]!
    const {VpcEndpoint} = await aws.ec2.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'GatewayLoadBalancer', VpcId: net.vpcId, ServiceName: service.name, SubnetIds: [net.endpointSubnets[0]!],
      TagSpecifications: [{ResourceType: 'vpc-endpoint', Tags: [{Key: 'gwlb:deployment', Value: 'egress'}]}],
    }))
    const status = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!
    expect(status.verdict).toBe('degraded')
    expect(status.problems).toContainEqual(expect.stringMatching(new RegExp(`^GWLB endpoints.*: 3 where the settings ask for 2 \\(.*${VpcEndpoint!.VpcEndpointId}.*\\); gwlb destroy removes them all$`)))
    gwlbJson(['destroy', '--name', 'egress', '--yes', '--poll-interval', '20'])
    expect(nothing(await inventory(clients(), 'egress'))).toBe(true)
  })
})

describe('deployments that share a VPC', () => {
  it('a second deployment may not take the first one\'s routes: refused before anything is made', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net, 'blue')])
    const r = gwlb(['init', ...initFlags(net, 'green'), '--json'])
    expect(r.status).toBe(1)
    expect(errorOf(r.stdout)).toMatchObject({code: 'refused', message: expect.stringMatching(/^rtb-\w+: 0\.0\.0\.0\/0 goes to (vpce|nat)-\w+ of gwlb deployment blue$/)})
    expect(nothing(await inventory(clients(), 'green'))).toBe(true)
    expect(await inventory(clients(), 'blue')).toEqual(WHOLE_DEPLOYMENT)
  })

  it('the same --route twice is refused', () => {
    const flags = initFlags({vpcId: 'vpc-1', applianceSubnets: ['subnet-a'], endpointSubnets: ['subnet-b'], publicSubnets: ['subnet-c'], workloadRouteTables: ['rtb-1', 'rtb-1']} as never)
    const r = gwlb(['init', ...flags, '--json'])
    expect(r.status).toBe(2)
    expect(errorOf(r.stdout)).toMatchObject({code: 'usage', message: '--route rtb-1=0.0.0.0/0 is given twice'})
  })
})

describe('a re-run resumes with what the deployment was made with', () => {
  it('runs the command status suggests, as printed, with the stored settings', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net), '--instance-type', 'c6i.xlarge', '--desired-capacity', '3', '--max-size', '5'])
    const before = await inventory(clients(), 'egress')
    // An incomplete deployment: its listener deleted by hand.
    const {DescribeListenersCommand, DeleteListenerCommand, DescribeLoadBalancersCommand} = await import('@aws-sdk/client-elastic-load-balancing-v2')
    const aws = clients()
    const {LoadBalancers = []} = await aws.elb.send(new DescribeLoadBalancersCommand({Names: ['gwlb-egress']}))
    const {Listeners = []} = await aws.elb.send(new DescribeListenersCommand({LoadBalancerArn: LoadBalancers[0]!.LoadBalancerArn}))
    await aws.elb.send(new DeleteListenerCommand({ListenerArn: Listeners[0]!.ListenerArn}))
    const status = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!
    expect(status.resume).toBe('gwlb init --yes --name egress --region us-east-1')
    const resumed = gwlb([...status.resume!.split(' ').slice(1), '--poll-interval', '20'])
    expect(resumed.stderr).toBe('')
    expect(resumed.status).toBe(0)
    expect(await inventory(clients(), 'egress')).toEqual(before)
    const after = gwlbJson<{deployments: DeploymentStatus[]}>(['status', '--name', 'egress']).deployments[0]!
    expect(after.verdict).toBe('healthy')
    expect(after.settings).toMatchObject({instanceType: 'c6i.xlarge', desiredCapacity: 3, maxSize: 5})
  })
})

describe('nothing destructive without a yes', () => {
  it('destroy --json without --yes refuses and removes nothing', async () => {
    const net = await makeNetwork(clients())
    gwlbJson(['init', ...initFlags(net)])
    const r = gwlb(['destroy', '--name', 'egress', '--json'])
    expect(r.status).toBe(2)
    expect(errorOf(r.stdout)).toEqual({code: 'usage', message: 'destroy --json removes nothing without --yes', hint: 'pass --yes to remove egress, or --dry-run to list what it owns'})
    expect(await inventory(clients(), 'egress')).toEqual(WHOLE_DEPLOYMENT)
  })
})
