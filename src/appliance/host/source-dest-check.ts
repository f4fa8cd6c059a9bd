import {DescribeInstanceAttributeCommand, ModifyInstanceAttributeCommand} from '../../sdk/ec2.js'
import {AwsClients} from '../../aws/clients.js'
import {explainAwsError} from '../../aws/errors.js'
import {instanceIdentity} from './imds.js'

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
