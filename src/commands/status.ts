import {Flags} from '@oclif/core'
import {deploymentStatus, type DeploymentStatus} from '../aws/status.js'
import {findDeployments} from '../aws/teardown.js'
import {AwsCommand} from '../aws-command.js'
import {UserError} from '../errors.js'
import {nameFlag} from '../flags.js'
import {renderStatus, renderVerdictLine} from '../render.js'

export default class Status extends AwsCommand<typeof Status> {
  static override summary = 'Show what a deployment has, what is healthy and what is pending'
  static override description = 'Read-only (describe/list/get calls only). Without --name, lists every deployment in the region with its verdict: healthy, degraded (what is unhealthy or pending) or incomplete (what is missing, and the init command that finishes it).'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --name egress --check', '<%= config.bin %> <%= command.id %> -n egress --watch']

  static override flags = {
    name: nameFlag('the deployment to show (default: list them all)'),
    check: Flags.boolean({description: 'exit non-zero unless healthy (for scripts)'}),
    watch: Flags.boolean({description: 'refresh in place until Ctrl-C (terminal only)'}),
    interval: Flags.integer({description: 'seconds between refreshes with --watch', default: 10, min: 1}),
  }

  async run(): Promise<StatusResult> {
    const f = this.flags
    if (f.watch && (!process.stdout.isTTY || this.jsonEnabled())) throw new UserError('--watch needs a terminal', 'drop --watch, or run it in a terminal')
    const region = await this.aws.region()
    const scope = (deployment: string) => ({aws: this.aws, deployment, region, timing: {pollMs: 0, timeoutMs: 0}, progress: () => undefined})
    // Terminated instances keep their tags for a while: a name with nothing left is not listed.
    const read = async (): Promise<StatusResult> => ({
      region,
      deployments: f.name
        ? [await deploymentStatus(scope(f.name))]
        : (await Promise.all((await findDeployments(this.aws)).map((name) => deploymentStatus(scope(name))))).filter((s) => s.verdict !== 'absent'),
    })
    const render = ({deployments}: StatusResult) =>
      f.name
        ? deployments[0]!.verdict === 'absent' ? `No deployment ${f.name} in ${region}.` : renderStatus(deployments[0]!)
        : deployments.length ? deployments.map(renderVerdictLine).join('\n') : `No gwlb deployment in ${region}.`

    let result = await read()
    while (f.watch) {
      process.stdout.write(`\x1b[2J\x1b[H${render(result)}\n\n(refreshing every ${f.interval}s, Ctrl-C to stop; ${new Date().toLocaleTimeString()})\n`)
      await new Promise((r) => setTimeout(r, f.interval * 1000))
      result = await read()
    }
    const healthy = result.deployments.length > 0 && result.deployments.every((d) => d.verdict === 'healthy')
    if (this.jsonEnabled()) {
      if (f.check && !healthy) {
        this.logJson(result)
        this.exit(1)
      }
      return result
    }
    this.log(render(result))
    if (f.check && !healthy) this.exit(1)
    return result
  }
}

/** One shape, with --name or without: the region and its deployments (the one named, or every one there). */
export interface StatusResult {
  region: string
  deployments: DeploymentStatus[]
}
