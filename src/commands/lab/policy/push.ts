import {Args} from '@oclif/core'
import {resolve} from 'node:path'
import {BaseCommand} from '../../../base-command.js'
import {labFlag} from '../../../flags.js'
import {labPolicyPush, type PolicyPushResult} from '../../../lab/lab.js'
import {shortVersion} from '../../../policy.js'

export default class LabPolicyPush extends BaseCommand<typeof LabPolicyPush> {
  static override summary = 'Put an egress policy in force on every appliance of the lab, live (root)'
  static override description = 'Checked first (as gwlb policy check does): a file with an error changes nothing anywhere. Each appliance then reads it (SIGHUP) and applies it as one nftables transaction: established flows it still allows lose no packet. An appliance that refuses it keeps the policy it had and is named.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> ./policy.yaml']
  static override args = {file: Args.string({description: 'the policy file (YAML or JSON)', required: true})}
  static override flags = {name: labFlag}

  async run(): Promise<PolicyPushResult> {
    const result = await labPolicyPush(this.flags.name, resolve(this.args.file))
    if (!this.jsonEnabled()) {
      for (const a of result.appliances) this.log(`${a.appliance}: policy ${shortVersion(result.sha256)} in force after ${a.seconds.toFixed(2)} s`)
      for (const node of result.stopped) this.log(`${node}: data plane stopped; it starts with this policy (gwlb lab heal ${node})`)
    }
    return result
  }
}
