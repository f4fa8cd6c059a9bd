import {AwsCommand} from '../../aws-command.js'
import {deploymentName, nameFlag} from '../../flags.js'
import {showPolicy, versionText, type PolicyShow} from '../../aws/policy-staging.js'
import {REPORT_SECONDS} from '../../fleet-report.js'
import {shortVersion} from '../../policy.js'

export default class PolicyShowCommand extends AwsCommand<typeof PolicyShowCommand> {
  static override summary = 'Show the egress policy a deployment\'s fleet runs, by version, instance by instance'
  static override examples = ['<%= config.bin %> <%= command.id %> --name egress', '<%= config.bin %> <%= command.id %> --name egress --json']
  static override flags = {name: nameFlag('the deployment')}

  async run(): Promise<PolicyShow> {
    const name = deploymentName(this.flags.name)
    const region = await this.aws.region()
    const shown = await showPolicy({aws: this.aws, deployment: name, region, timing: {pollMs: 0, timeoutMs: 0}, progress: () => undefined})
    if (!this.jsonEnabled()) {
      this.log(shown.staged ? `policy ${versionText(shown.staged)}` : 'no policy pushed: the appliances let everything through')
      for (const i of shown.instances)
        this.log(`  ${i.id} ${i.az} ${i.lifecycle}: ${i.policy ? `runs ${shortVersion(i.policy)}${shown.staged && i.policy !== shown.staged.sha256 ? ' (not the pushed one yet)' : ''}, said ${i.reportedAt}` : i.reportedAt ? 'runs no policy' : `has not reported (it does every ${REPORT_SECONDS} s once it runs)`}${i.refused ? `; refused the last: ${i.refused}` : ''}`)
      if (!shown.instances.length) this.log('  no appliance running')
    }
    return shown
  }
}
