import {DescribeInstanceAttributeCommand, ModifyInstanceAttributeCommand} from '@aws-sdk/client-ec2'
import {AwsClients} from '../../aws/clients.js'
import {explainAwsError} from '../../aws/errors.js'

const IMDS_TIMEOUT_MS = 1000

/** The instance's id and region from IMDSv2 (a session token first; IMDSv1 is off on gwlb's instances). */
export async function instanceIdentity(): Promise<{instanceId: string; region: string}> {
  const base = (process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? 'http://169.254.169.254').replace(/\/$/, '')
  const signal = () => AbortSignal.timeout(IMDS_TIMEOUT_MS)
  let token: string
  try {
    const response = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: {'X-aws-ec2-metadata-token-ttl-seconds': '300'},
      signal: signal(),
    })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    token = await response.text()
  } catch (error) {
    throw new Error(`no EC2 instance metadata at ${base} (${(error as Error).message}): not on EC2?`)
  }
  const get = async (path: string) => {
    const response = await fetch(`${base}/latest/meta-data/${path}`, {headers: {'X-aws-ec2-metadata-token': token}, signal: signal()})
    if (!response.ok) throw new Error(`instance metadata ${path}: HTTP ${response.status}`)
    return (await response.text()).trim()
  }
  return {instanceId: await get('instance-id'), region: await get('placement/region')}
}

/**
 * Turns off this instance's source/destination check (two-arm mode forwards packets whose addresses are not
 * its own) and remembers the previous value so that restore() can put it back on clean exit.
 */
export class SourceDestCheck {
  private changed?: {instanceId: string; region: string; previous: boolean}

  async disable(): Promise<string> {
    const {instanceId, region} = await instanceIdentity()
    const aws = new AwsClients({region})
    try {
      const {SourceDestCheck: current} = await aws.ec2.send(
        new DescribeInstanceAttributeCommand({InstanceId: instanceId, Attribute: 'sourceDestCheck'}),
      )
      const previous = current?.Value ?? true
      if (previous) await aws.ec2.send(new ModifyInstanceAttributeCommand({InstanceId: instanceId, SourceDestCheck: {Value: false}}))
      this.changed = {instanceId, region, previous}
      return `source/destination check of ${instanceId} is off${previous ? '' : ' (it already was)'}`
    } catch (error) {
      throw explainAwsError(error, 'ec2:ModifyInstanceAttribute')
    } finally {
      aws.destroy()
    }
  }

  async restore(): Promise<string | undefined> {
    const changed = this.changed
    if (!changed?.previous) return undefined
    const aws = new AwsClients({region: changed.region})
    try {
      await aws.ec2.send(new ModifyInstanceAttributeCommand({InstanceId: changed.instanceId, SourceDestCheck: {Value: true}}))
      this.changed = undefined
      return `source/destination check of ${changed.instanceId} restored`
    } catch (error) {
      throw explainAwsError(error, 'ec2:ModifyInstanceAttribute')
    } finally {
      aws.destroy()
    }
  }
}
