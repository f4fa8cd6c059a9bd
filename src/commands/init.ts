import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {CUTOVER_GATES} from '../aws/cutover.js'
import {applyDeployment, DEFAULT_APPLY_OPTIONS, dryRunResult, planDeployment, prepare, type InitResult} from '../aws/deployment.js'
import {commandLine, completeFromFlags, DEFAULTS, parseRoute, withStored, type DeploymentSpec, type PartialSpec, type RouteSpec} from '../aws/spec.js'
import {readSettings} from '../aws/steps/settings.js'
import {AwsCommand} from '../aws-command.js'
import {UserError} from '../errors.js'
import {MODE_NAMES} from '../mode.js'
import {lockFlags, nameFlag, timingFlags, timingFrom} from '../flags.js'
import {renderPlan, renderInitSummary, rendererFor} from '../render.js'
import {askForSpec} from '../wizard/init-wizard.js'

/** Subnet lists: comma-separated, or the flag repeated. */
const subnets = (description: string) => Flags.string({description, multiple: true, delimiter: ','})

/** RTB_ID=CIDR, checked as the flags are parsed; `none` for no route at all. */
const routeFlag = Flags.custom<RouteSpec | 'none'>({parse: async (value) => (value === 'none' ? 'none' : parseRoute(value))})

/**
 * A list flag as given: absent (the stored settings' list on a re-run), `none` (an empty list: what was
 * there is given back), or the values.
 */
const list = <T>(values: (T | 'none')[] | undefined): T[] | undefined => (values?.includes('none') ? [] : (values as T[] | undefined))

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
    'vpc-id': Flags.string({description: 'VPC of the appliances and endpoints'}),
    'appliance-subnets': subnets('subnets for the GWLB and the appliances, one per AZ (comma-separated)'),
    'endpoint-subnets': subnets('subnets for the GWLB endpoints, one per AZ (comma-separated)'),
    'nat-subnets': subnets('public subnets for the NAT gateways, one per appliance AZ (comma-separated)'),
    'nat-gateways': Flags.boolean({description: 'NAT gateways with Elastic IPs for a fixed egress address (--no-nat-gateways: none)', allowNo: true}),
    route: routeFlag({description: 'send CIDR in route table RTB through the GWLB endpoint of its AZ: RTB_ID=CIDR (repeatable; none: no route)', multiple: true, multipleNonGreedy: true}),
    mode: Flags.option({description: 'appliance mode', options: MODE_NAMES})(),
    'instance-type': Flags.string({description: `appliance instance type (default ${DEFAULTS.instanceType})`}),
    'min-size': Flags.integer({description: `Auto Scaling minimum (default ${DEFAULTS.minSize})`, min: 0}),
    'max-size': Flags.integer({description: `Auto Scaling maximum (default ${DEFAULTS.maxSize})`, min: 1}),
    'desired-capacity': Flags.integer({description: `appliances to run (default ${DEFAULTS.desiredCapacity})`, min: 0}),
    'ami-id': Flags.string({description: 'AMI (default: Canonical\'s current Ubuntu 22.04 for the instance type\'s CPU)'}),
    'key-name': Flags.string({description: 'EC2 key pair for SSH to the appliances'}),
    'health-port': Flags.integer({description: `appliance health-check port (default ${DEFAULTS.healthPort})`, min: 1, max: 65535}),
    'health-protocol': Flags.string({description: 'health check protocol', options: ['HTTP', 'TCP']}),
    stickiness: Flags.string({description: 'flow stickiness', options: ['5-tuple', '3-tuple', '2-tuple']}),
    failover: Flags.string({description: 'target failover on deregistration and when unhealthy', options: ['rebalance', 'no-rebalance']}),
    'deregistration-delay': Flags.integer({description: `seconds to drain a deregistered appliance (default ${DEFAULTS.deregistrationDelay})`, min: 0, max: 3600}),
    'cross-zone': Flags.boolean({description: 'cross-zone load balancing', allowNo: true}),
    'allowed-principal': Flags.string({description: 'account id or IAM ARN (account root, role, user) allowed to connect endpoints (repeatable; default this account; none: back to the default)', multiple: true, multipleNonGreedy: true}),
    'tgw-attachment': Flags.string({description: 'Transit Gateway VPC attachment to put in appliance mode (repeatable; none: no attachment)', multiple: true, multipleNonGreedy: true}),
    package: Flags.string({env: 'GWLB_PACKAGE', description: 'the gwlb the appliances run, staged in the deployment\'s bucket: a .tgz file, tarball URL or npm spec (default: this gwlb, packed from its installation)'}),
    yes: Flags.boolean({char: 'y', description: 'never prompt; a missing value is an error'}),
    'cutover-gate': Flags.option({description: `when the --route routes go to the endpoints: once appliances are healthy in each routed AZ, once one is, or at once (default ${DEFAULT_APPLY_OPTIONS.cutoverGate})`, options: CUTOVER_GATES})(),
    'min-healthy-percentage': Flags.integer({description: `share of the fleet an instance refresh keeps healthy while it replaces appliances (default ${DEFAULT_APPLY_OPTIONS.minHealthyPercentage}: a new one in service before an old one goes)`, min: 0, max: 100}),
    'dry-run': Flags.boolean({description: 'print the plan (found / to be created) and change nothing'}),
    ...lockFlags,
    ...timingFlags,
  }

  async run(): Promise<InitResult> {
    const f = this.flags
    const given: PartialSpec = {
      name: f.name, vpcId: f['vpc-id'], applianceSubnets: f['appliance-subnets'], endpointSubnets: f['endpoint-subnets'],
      natSubnets: f['nat-subnets'], natGateways: f['nat-gateways'], routes: list(f.route),
      mode: f.mode, instanceType: f['instance-type'], minSize: f['min-size'], maxSize: f['max-size'],
      desiredCapacity: f['desired-capacity'], amiId: f['ami-id'], keyName: f['key-name'], healthPort: f['health-port'],
      healthProtocol: f['health-protocol'] as DeploymentSpec['healthProtocol'] | undefined, stickiness: f.stickiness as DeploymentSpec['stickiness'] | undefined,
      failover: f.failover as DeploymentSpec['failover'] | undefined, deregistrationDelay: f['deregistration-delay'], crossZone: f['cross-zone'],
      allowedPrincipals: list(f['allowed-principal']), tgwAttachments: list(f['tgw-attachment']), package: f.package,
    }
    const interactive = !f.yes && !this.jsonEnabled()
    if (interactive && !process.stdin.isTTY) throw new UserError('gwlb init needs a terminal for its questions', 'pass --yes with every value as a flag (see gwlb init --help)')
    // A re-run of an existing deployment: what is not given is what it was made with (resume, or change one thing).
    const stored = await readSettings(this.aws, given.name ?? DEFAULTS.name)
    const asked = withStored(given, stored)
    const spec = interactive ? await askForSpec(this.aws, asked) : completeFromFlags(asked)
    const options = {cutoverGate: f['cutover-gate'] ?? DEFAULT_APPLY_OPTIONS.cutoverGate, minHealthyPercentage: f['min-healthy-percentage'] ?? DEFAULT_APPLY_OPTIONS.minHealthyPercentage}

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
      } else if (interactive && !(await confirm({message: 'Make what is missing or changed?', default: true}))) {
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
