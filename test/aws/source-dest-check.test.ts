import {DescribeInstanceAttributeCommand, RunInstancesCommand} from '@aws-sdk/client-ec2'
import type {Server} from 'node:http'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {SourceDestCheck} from '../../src/appliance/host/source-dest-check.js'
import {instanceSubnet} from '../../src/appliance/host/imds.js'
import {fakeImds, IMDS_SUBNET} from '../helpers/imds.js'
import {useMoto} from '../helpers/moto.js'

const {clients} = useMoto()

describe('the appliance instance, through its metadata: source/destination check and subnet', () => {
  let imds: Server
  let instanceId: string
  const check = async () =>
    (await clients().ec2.send(new DescribeInstanceAttributeCommand({InstanceId: instanceId, Attribute: 'sourceDestCheck'}))).SourceDestCheck?.Value

  beforeAll(async () => {
    const {Instances} = await clients().ec2.send(new RunInstancesCommand({ImageId: 'ami-785db401', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro'}))
    instanceId = Instances![0]!.InstanceId!
    imds = fakeImds(instanceId)
    await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r))
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = `http://127.0.0.1:${(imds.address() as {port: number}).port}`
  })
  afterAll(() => {
    delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT
    imds.close()
  })

  it('is turned off through IMDSv2 and EC2, and turned back on by restore()', async () => {
    expect(await check()).toBe(true)
    const sdc = new SourceDestCheck()
    expect(await sdc.disable()).toBe(`source/destination check of ${instanceId} is off`)
    expect(await check()).toBe(false)
    expect(await sdc.restore()).toBe(`source/destination check of ${instanceId} restored`)
    expect(await check()).toBe(true)
  })

  it('the instance\'s subnet, which the appliance takes GENEVE from when not told', async () => {
    expect(await instanceSubnet()).toBe(IMDS_SUBNET)
  })

  it('is left off at exit if it was off before', async () => {
    const first = new SourceDestCheck()
    await first.disable()
    const second = new SourceDestCheck()
    expect(await second.disable()).toMatch(/already was/)
    expect(await second.restore()).toBeUndefined()
    expect(await check()).toBe(false)
    await first.restore()
  })

  it('says plainly when there is no instance metadata (not on EC2)', async () => {
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://127.0.0.1:1'
    await expect(new SourceDestCheck().disable()).rejects.toThrow(/no EC2 instance metadata at http:\/\/127\.0\.0\.1:1 .*not on EC2\?/)
  })
})
