import {Args} from '@oclif/core'
import {AwsCommand} from '../../aws-command.js'
import {deploymentName, nameFlag} from '../../flags.js'
import {pushPolicy, versionText, type StagedPolicy} from '../../aws/policy-staging.js'
import {SYNC_SECONDS} from '../../aws/staged-versions.js'

export default class PolicyPush extends AwsCommand<typeof PolicyPush> {
  static override summary = 'Put an egress policy in force on every appliance of a deployment, live'
  static override description = `Checked first (a file with an error stages nothing), staged in the deployment's bucket under its SHA-256, then the fleet is pointed at it. Each appliance syncs within ${SYNC_SECONDS} s (and at first boot), checks the digest and applies it as one nftables transaction: no instance is replaced, and established flows it still allows lose no packet. gwlb policy show says which version the fleet runs.`
  static override examples = ['<%= config.bin %> <%= command.id %> --name egress ./policy.yaml']
  static override args = {file: Args.string({description: 'the policy file (YAML or JSON)', required: true})}
  static override flags = {name: nameFlag('the deployment')}

  async run(): Promise<StagedPolicy> {
    const name = deploymentName(this.flags.name)
    const staged = await pushPolicy({aws: this.aws, deployment: name, region: await this.aws.region()}, this.args.file)
    if (!this.jsonEnabled()) this.log(`policy ${versionText(staged)} staged for ${name}; its appliances put it in force within ${SYNC_SECONDS} s`)
    return staged
  }
}
