import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {CUTOVER_GATES} from '../aws/cutover.js'
import {applyDeployment, DEFAULT_APPLY_OPTIONS, dryRunResult, planDeployment, prepare, type InitResult} from '../aws/deployment.js'
import {commandLine, completeFromFlags, DEFAULTS, givenByFlags, settingFlags, withStored} from '../aws/settings-table.js'
import type {PartialSpec} from '../aws/spec.js'
import {checkInitFiles} from '../aws/steps/init-files.js'
import {readSettings} from '../aws/steps/settings.js'
import {AwsCommand} from '../aws-command.js'
import {UserError} from '../errors.js'
import {lockFlags, nameFlag, timingFlags, timingFrom} from '../flags.js'
import {renderPlan, renderInitSummary, rendererFor} from '../render.js'
import {askForSpec} from '../wizard/init-wizard.js'

export default class Init extends AwsCommand<typeof Init> {
  static override summary = 'Create a Gateway Load Balancer appliance fleet (wizard, or flags with --yes)'
  static override description = `Creates, in dependency order and only what is missing: security group, IAM role and instance profile, GENEVE target group, Gateway Load Balancer and listener, endpoint service, one GWLB endpoint per AZ (accepted), the routes you ask for, NAT gateways with Elastic IPs, launch template and Auto Scaling group. Everything is tagged gwlb:deployment=<name>; re-running resumes after any failure.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --yes --name egress --vpc-id vpc-0abc --appliance-subnets subnet-a,subnet-b --endpoint-subnets subnet-c,subnet-d --nat-subnets subnet-e,subnet-f --route rtb-0123=0.0.0.0/0',
    '<%= config.bin %> <%= command.id %> --dry-run --name egress --vpc-id vpc-0abc …',
  ]

  static override flags = {
    name: nameFlag(`deployment name, in every resource's gwlb:deployment tag (default ${DEFAULTS.name})`),
    ...settingFlags(),
    yes: Flags.boolean({char: 'y', description: 'never prompt; a missing value is an error'}),
    'cutover-gate': Flags.option({description: `when the --route routes go to the endpoints: once appliances are healthy in each routed AZ, once one is, or at once (default ${DEFAULT_APPLY_OPTIONS.cutoverGate})`, options: CUTOVER_GATES})(),
    'min-healthy-percentage': Flags.integer({description: `share of the fleet an instance refresh keeps healthy while it replaces appliances (default ${DEFAULT_APPLY_OPTIONS.minHealthyPercentage}: a new one in service before an old one goes)`, min: 0, max: 100}),
    policy: Flags.string({description: 'an egress policy to put in force from the first boot (as gwlb policy push does; checked before anything changes)'}),
    'ids-rules': Flags.string({description: 'your Suricata rules for the engines from the first boot (as gwlb rules push does; checked before anything changes)'}),
    'dry-run': Flags.boolean({description: 'print the plan (found / to be created) and change nothing'}),
    ...lockFlags,
    ...timingFlags,
  }

  async run(): Promise<InitResult> {
    const f = this.flags
    const given: PartialSpec = {name: f.name, ...givenByFlags(f)}
    // A dry run changes nothing: without a terminal it takes what the flags and the stored settings give, asking nothing.
    const interactive = !f.yes && !this.jsonEnabled() && !(f['dry-run'] && !process.stdin.isTTY)
    if (interactive && !process.stdin.isTTY) throw new UserError('gwlb init needs a terminal for its questions', 'pass --yes with every value as a flag (see gwlb init --help)')
    // A re-run of an existing deployment: what is not given is what it was made with (resume, or change one thing).
    const stored = await readSettings(this.aws, given.name ?? DEFAULTS.name)
    const asked = withStored(given, stored)
    const spec = interactive ? await askForSpec(this.aws, asked) : completeFromFlags(asked)
    const options = {
      cutoverGate: f['cutover-gate'] ?? DEFAULT_APPLY_OPTIONS.cutoverGate, minHealthyPercentage: f['min-healthy-percentage'] ?? DEFAULT_APPLY_OPTIONS.minHealthyPercentage,
      files: await checkInitFiles(spec, {policy: f.policy, idsRules: f['ids-rules']}),
    }

    const plan = async () => {
      const ctx = await prepare(this.aws, spec, timingFrom(f), options)
      const planned = await planDeployment(ctx)
      if (!this.jsonEnabled()) this.log(renderPlan(planned))
      return {ctx, planned}
    }
    if (f['dry-run']) return dryRunResult((await plan()).planned)
    // The plan is made under the lock too: another run cannot change what it found before it is applied.
    return this.changing(spec.name, f['lock-wait'], async () => {
      const {ctx, planned} = await plan()
      const replaces = planned.entries.filter((e) => e.replaces).map((e) => e.replaces!)
      if (planned.entries.every((e) => e.missing.length === 0)) {
        if (!this.jsonEnabled()) this.log(chalk.green(`Deployment ${spec.name} is complete; nothing to change.`))
      } else if (replaces.length && !f.yes) {
        // Replacing running appliances is never done on a default: a script says --yes, a person confirms.
        if (!interactive) throw new UserError(`this change replaces running appliances (${replaces.join('; ')})`, 'pass --yes to roll it out, or --dry-run to see the plan', 'usage')
        if (!(await confirm({message: `Replace running appliances (${replaces.join('; ')})?`, default: false})))
          throw new UserError('nothing was changed', 'run gwlb init again when ready')
      } else if (interactive && !(await confirm({message: 'Make what is missing or changed?', default: false}))) {
        throw new UserError('nothing was changed', 'run gwlb init again when ready')
      }
      const result = await applyDeployment(ctx, rendererFor(this.jsonEnabled()), planned.entries)
      if (!this.jsonEnabled()) {
        this.log(renderInitSummary(result))
        if (interactive) this.log(`\nThe same, without questions:\n  ${commandLine(spec, ctx.topology.region)}`)
      }
      return result
    })
  }
}
