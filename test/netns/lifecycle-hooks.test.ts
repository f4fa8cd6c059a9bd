import {CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, PutLifecycleHookCommand} from '@aws-sdk/client-auto-scaling'
import {GetMetricStatisticsCommand} from '@aws-sdk/client-cloudwatch'
import {CreateLaunchTemplateCommand} from '@aws-sdk/client-ec2'
import {CreateBucketCommand} from '@aws-sdk/client-s3'
import {existsSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {hookSpecifications} from '../../src/aws/steps/lifecycle-hooks.js'
import {ApplianceBed, GWLB_SUBNET, INTERNET_IP, scratchDir} from '../helpers/appliance-bed.js'
import {gwlbAsync} from '../helpers/cli.js'
import {fakeImds} from '../helpers/imds.js'
import {completedLifecycleActions, useMoto} from '../helpers/moto.js'
import {linkToThisHost} from '../helpers/netns.js'
import {icmpEcho} from '../helpers/packets.js'
import {describeAsRoot} from '../helpers/root.js'

const {clients, endpoint} = useMoto()
const BUCKET = 'gwlb-hooks-123456789012-us-east-1'
const GROUP = 'gwlb-hooks'
// The appliance's report, off loopback on a link of its own to this host (where the lifecycle command runs).
const HOST_IP = '10.253.0.1'
const REPORT_IP = '10.253.0.2'
const ENI = {eni: '2b8ee1d4db0c51c4'}

describeAsRoot('gwlb appliance lifecycle and report: in service once the data plane is ready, its packets a second for scaling, let go once its flows drained', () => {
  let bed: ApplianceBed
  let dir: string
  let imds: ReturnType<typeof fakeImds>
  let instance: string
  let lifecycle: ReturnType<typeof gwlbAsync>
  let output = ''
  const cleanUp = new AbortController()
  const imdsUrl = () => `http://127.0.0.1:${(imds.address() as {port: number}).port}`
  const completed = (hook: string) => completedLifecycleActions().filter((a) => a.group === GROUP && a.hook === `${GROUP}-${hook}` && a.instance === instance)

  beforeAll(async () => {
    dir = scratchDir('gwlb-lifecycle-')
    const aws = clients()
    await aws.ec2.send(new CreateLaunchTemplateCommand({LaunchTemplateName: GROUP, LaunchTemplateData: {ImageId: 'ami-785db401', InstanceType: 't3.micro'}}))
    await aws.autoscaling.send(new CreateAutoScalingGroupCommand({AutoScalingGroupName: GROUP, LaunchTemplate: {LaunchTemplateName: GROUP}, MinSize: 1, MaxSize: 1, AvailabilityZones: ['us-east-1a']}))
    // The hooks gwlb init gives the group (the emulator takes them one by one, not with the group).
    for (const hook of hookSpecifications(GROUP)) await aws.autoscaling.send(new PutLifecycleHookCommand({AutoScalingGroupName: GROUP, ...hook}))
    const {AutoScalingGroups = []} = await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: [GROUP]}))
    instance = AutoScalingGroups[0]!.Instances![0]!.InstanceId!
    await aws.s3.send(new CreateBucketCommand({Bucket: BUCKET}))
    imds = fakeImds(instance)
    await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve))

    bed = new ApplianceBed()
    bed.writable = [dir]
    await bed.setUp()
    linkToThisHost(bed.appliance, 'gwl', `${HOST_IP}/30`, 'r0', `${REPORT_IP}/30`)
  })

  afterAll(async () => {
    cleanUp.abort()
    await bed?.cleanup()
    imds?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('completes the launch hook only once the data plane says ready, not while it is starting', async () => {
    lifecycle = gwlbAsync(['appliance', 'lifecycle', '--group', GROUP, '--metrics', `http://${REPORT_IP}:9641`, '--poll-interval', '100', '--drain-seconds', '20',
      '--on-terminate', `touch ${join(dir, 'data-plane-stopped')}`], {AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl()},
    {onOutput: (o) => (output = o), kill: cleanUp.signal})
    await new Promise((r) => setTimeout(r, 1500))
    expect(completed('launch')).toEqual([])
    await bed.start('--metrics-listen', `${REPORT_IP}:9641`, '--allowed-sources', `${GWLB_SUBNET},${HOST_IP}/32`, '--flow-timeout', '2')
    await expect.poll(() => completed('launch'), {timeout: 10_000, interval: 100}).toEqual([expect.objectContaining({result: 'CONTINUE'})])
    await expect.poll(() => output).toMatch(new RegExp(`${GROUP}-launch: completed \\(CONTINUE\\)`))
  })

  it('reports its GENEVE packets a second since its last report as the group\'s scaling metric (none the first time)', async () => {
    const report = () => gwlbAsync(['appliance', 'report', '--bucket', BUCKET, '--region', 'us-east-1', '--endpoint', endpoint, '--metrics', `http://${REPORT_IP}:9641`,
      '--scaling-group', GROUP, '--scaling-state', join(dir, 'packets.json'), '--json'], {AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl()})
    const first = await report()
    expect(first.status, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).not.toHaveProperty('packetsPerSecond')
    for (let seq = 1; seq <= 20; seq++) bed.send(ENI, icmpEcho({src: '10.200.0.6', dst: INTERNET_IP}, 92, seq))
    await expect.poll(async () => (await fetch(`http://${REPORT_IP}:9641/json`).then((r) => r.json() as Promise<{traffic: {packetsIn: number}}>)).traffic.packetsIn).toBeGreaterThanOrEqual(20)
    const second = JSON.parse((await report()).stdout) as {packetsPerSecond: number}
    expect(second.packetsPerSecond).toBeGreaterThan(0)
    const {Datapoints = []} = await clients().cloudwatch.send(new GetMetricStatisticsCommand({
      Namespace: 'gwlb', MetricName: 'PacketsPerSecond', Dimensions: [{Name: 'AutoScalingGroupName', Value: GROUP}],
      StartTime: new Date(Date.now() - 300_000), EndTime: new Date(Date.now() + 60_000), Period: 60, Statistics: ['Maximum'],
    }))
    expect(Datapoints.map((d) => d.Maximum)).toEqual([second.packetsPerSecond])
  })

  it('once the group means it to go, waits while flows are live, then stops the data plane and completes the terminate hook', async () => {
    const ping = (seq: number) => bed.send(ENI, icmpEcho({src: '10.200.0.5', dst: INTERNET_IP}, 91, seq))
    ping(0)
    await expect.poll(async () => (await fetch(`http://${REPORT_IP}:9641/json`).then((r) => r.json() as Promise<{flows: number}>)).flows).toBe(1)
    imds.answers['/latest/meta-data/autoscaling/target-lifecycle-state'] = 'Terminated'
    // The flow keeps going for 2 s more: the instance is not let go under it.
    for (let seq = 1; seq <= 10; seq++) {
      ping(seq)
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(output).toMatch(/leaving: waiting up to 20 s for the last flows\n$/)
    expect(completed('terminate')).toEqual([])
    expect(existsSync(join(dir, 'data-plane-stopped'))).toBe(false)
    // Quiet, its flow is forgotten after --flow-timeout (2 s); then the appliance goes.
    await expect.poll(() => completed('terminate'), {timeout: 15_000, interval: 100}).toEqual([expect.objectContaining({result: 'CONTINUE'})])
    expect(existsSync(join(dir, 'data-plane-stopped'))).toBe(true)
    expect((await lifecycle).status).toBe(0)
    expect(output).toMatch(/leaving: waiting up to 20 s for the last flows\ndrained in \d+\.\d s\n.*-terminate: completed \(CONTINUE\)\ni-\w+ let go/)
  })
})
