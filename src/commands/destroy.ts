import {input} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import {logGroup} from '../aws/steps/log-group.js'
import {destroyDeployment, findDeployments, listOwned, type DestroyResult} from '../aws/teardown.js'
import {AwsCommand} from '../aws-command.js'
import {UserError} from '../errors.js'
import {lockFlags, nameFlag, timingFlags, timingFrom} from '../flags.js'
import {renderOwned, rendererFor} from '../render.js'

export default class Destroy extends AwsCommand<typeof Destroy> {
  static override summary = 'Remove everything a deployment created, in order, and nothing else'
  static override description = 'Finds the deployment\'s resources by its gwlb:deployment tag and names, removes them in reverse dependency order with the waits AWS needs, deletes the routes init added (or gives back the target a route had before), and leaves route tables, subnets and VPCs alone. Safe to re-run.'
  static override examples = ['<%= config.bin %> <%= command.id %> --name egress', '<%= config.bin %> <%= command.id %> --name egress --yes', '<%= config.bin %> <%= command.id %> --name egress --dry-run']

  static override flags = {
    name: nameFlag('the deployment to remove'),
    yes: Flags.boolean({char: 'y', description: 'do not ask to type the deployment\'s name'}),
    'dry-run': Flags.boolean({description: 'list what would be removed, remove nothing'}),
    'ignore-not-found': Flags.boolean({description: 'a deployment that owns nothing (already destroyed) is success, not an error'}),
    'keep-logs': Flags.boolean({description: 'leave the alerts\' CloudWatch Logs group (/gwlb/NAME/eve) and what it holds'}),
    ...lockFlags,
    ...timingFlags,
  }

  async run(): Promise<DestroyResult> {
    const f = this.flags
    if (!f.name) {
      const known = await findDeployments(this.aws)
      throw new UserError('which deployment? pass --name', known.length ? `deployments here: ${known.join(', ')}` : 'there is no gwlb deployment in this region')
    }
    const name = f.name
    const region = await this.aws.region()
    const scope = {aws: this.aws, deployment: name, region, timing: timingFrom(f), progress: () => undefined}
    const keep = f['keep-logs'] ? [logGroup.id] : []
    if (f['dry-run']) {
      const owned = await listOwned(scope, keep)
      if (!this.jsonEnabled()) this.log(renderOwned(name, owned))
      return {deployment: name, region, dryRun: true, owned, removed: [], kept: keep}
    }
    // A script cannot answer the question: it must say --yes, never remove a deployment by default.
    if (!f.yes && this.jsonEnabled()) throw new UserError('destroy --json removes nothing without --yes', `pass --yes to remove ${name}, or --dry-run to list what it owns`, 'usage')
    if (!f.yes && !process.stdin.isTTY) throw new UserError('destroy asks you to type the deployment\'s name', 'run it in a terminal, or pass --yes')
    const result = await this.changing(name, f['lock-wait'], async () => {
      const owned = await listOwned(scope, keep)
      // A mistyped name removes nothing: said as a failure, unless the caller says that is fine.
      if (!owned.some((o) => o.resources.length) && !f['ignore-not-found']) {
        // Terminated instances keep its tags a while: the name itself is not one to suggest.
        const known = (await findDeployments(this.aws)).filter((n) => n !== name)
        throw new UserError(`deployment ${name} owns nothing in ${region}: nothing to remove`,
          `${known.length ? `deployments here: ${known.join(', ')}` : 'there is no gwlb deployment in this region'}; --ignore-not-found makes this a success (a destroy run again)`, 'not-found')
      }
      if (!this.jsonEnabled()) this.log(renderOwned(name, owned))
      if (!f.yes) {
        const typed = await input({message: `Type ${name} to remove it`})
        if (typed !== name) throw new UserError('the name did not match; nothing was removed', `type ${name} exactly, or pass --yes`)
      }
      return destroyDeployment(scope, rendererFor(this.jsonEnabled()), owned, keep)
    })
    if (!this.jsonEnabled()) this.log(`Deployment ${name}: ${result.removed.reduce((n, s) => n + s.resources.length, 0)} resources removed.`)
    return result
  }
}
