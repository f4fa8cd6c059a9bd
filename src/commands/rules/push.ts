import {Args} from '@oclif/core'
import {AwsCommand} from '../../aws-command.js'
import {pushRules, rulesText, type StagedRules} from '../../aws/rules-staging.js'
import {SYNC_SECONDS} from '../../aws/staged-versions.js'
import {deploymentName, nameFlag} from '../../flags.js'

export default class RulesPush extends AwsCommand<typeof RulesPush> {
  static override summary = 'Put your own Suricata rules in force on every appliance of a deployment, live'
  static override description = `Checked first (Suricata's test mode where it is installed here, else each line's shape; a file with an error stages nothing), staged in the deployment's bucket under its SHA-256, then the fleet is pointed at it. Each appliance syncs within ${SYNC_SECONDS} s (and at first boot), has its own Suricata test the file, and reloads its engine live: no instance is replaced, and an engine never drops to no rules.`
  static override examples = ['<%= config.bin %> <%= command.id %> --name egress ./local.rules']
  static override args = {file: Args.string({description: 'the rules file', required: true})}
  static override flags = {name: nameFlag('the deployment')}

  async run(): Promise<StagedRules> {
    const name = deploymentName(this.flags.name)
    const staged = await pushRules({aws: this.aws, deployment: name, region: await this.aws.region()}, this.args.file)
    if (!this.jsonEnabled()) this.log(`IDS rules ${rulesText(staged)} staged for ${name}; its engines reload them within ${SYNC_SECONDS} s`)
    return staged
  }
}
