import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {applyDeployment, dryRunResult, planDeployment, prepare, type InitResult} from '../aws/deployment.js'
import {commandLine, completeFromFlags, DEFAULTS, parseRoute, type DeploymentSpec, type PartialSpec, type RouteSpec} from '../aws/spec.js'
import {AwsCommand} from '../aws-command.js'
import {UserError} from '../errors.js'
import {MODE_NAMES} from '../mode.js'
import {nameFlag, timingFlags, timingFrom} from '../flags.js'
import {renderPlan, renderInitSummary, rendererFor} from '../render.js'
import {askForSpec} from '../wizard/init-wizard.js'

/** Subnet lists: comma-separated, or the flag repeated. */
const subnets = (description: string) => Flags.string({description, multiple: true, delimiter: ','})

/** RTB_ID=CIDR, checked as the flags are parsed. */
const routeFlag = Flags.custom<RouteSpec>({parse: async (value) => parseRoute(value)})

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
    route: routeFlag({description: 'send CIDR in route table RTB through the GWLB endpoint of its AZ: RTB_ID=CIDR (repeatable)', multiple: true}),
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
    'allowed-principal': Flags.string({description: 'principal ARN allowed to connect endpoints (repeatable; default this account)', multiple: true}),
    'tgw-attachment': Flags.string({description: 'Transit Gateway VPC attachment to put in appliance mode (repeatable)', multiple: true}),
    package: Flags.string({env: 'GWLB_PACKAGE', description: 'the gwlb the appliances run, staged in the deployment\'s bucket: a .tgz file, tarball URL or npm spec (default: this gwlb, packed from its installation)'}),
    yes: Flags.boolean({char: 'y', description: 'never prompt; a missing value is an error'}),
    'dry-run': Flags.boolean({description: 'print the plan (found / to be created) and change nothing'}),
    ...timingFlags,
  }

  async run(): Promise<InitResult> {
    const f = this.flags
    const given: PartialSpec = {
      name: f.name, vpcId: f['vpc-id'], applianceSubnets: f['appliance-subnets'], endpointSubnets: f['endpoint-subnets'],
      natSubnets: f['nat-subnets'], natGateways: f['nat-gateways'], routes: f.route,
      mode: f.mode, instanceType: f['instance-type'], minSize: f['min-size'], maxSize: f['max-size'],
      desiredCapacity: f['desired-capacity'], amiId: f['ami-id'], keyName: f['key-name'], healthPort: f['health-port'],
      healthProtocol: f['health-protocol'] as DeploymentSpec['healthProtocol'] | undefined, stickiness: f.stickiness as DeploymentSpec['stickiness'] | undefined,
      failover: f.failover as DeploymentSpec['failover'] | undefined, deregistrationDelay: f['deregistration-delay'], crossZone: f['cross-zone'],
      allowedPrincipals: f['allowed-principal'], tgwAttachments: f['tgw-attachment'], package: f.package,
    }
    const interactive = !f.yes && !this.jsonEnabled()
    if (interactive && !process.stdin.isTTY) throw new UserError('gwlb init needs a terminal for its questions', 'pass --yes with every value as a flag (see gwlb init --help)')
    const spec = interactive ? await askForSpec(this.aws, given) : completeFromFlags(given)

    const ctx = await prepare(this.aws, spec, timingFrom(f))
    const plan = await planDeployment(ctx)
    if (!this.jsonEnabled()) this.log(renderPlan(plan))
    if (f['dry-run']) return dryRunResult(plan)
    if (plan.entries.every((e) => e.missing.length === 0)) {
      if (!this.jsonEnabled()) this.log(chalk.green(`Deployment ${spec.name} is complete; nothing to create.`))
    } else if (interactive && !(await confirm({message: 'Create what is missing?', default: true}))) {
      throw new UserError('nothing was created', 'run gwlb init again when ready')
    }
    const result = await applyDeployment(ctx, rendererFor(this.jsonEnabled()), plan.entries)
    if (!this.jsonEnabled()) {
      this.log(renderInitSummary(result))
      if (interactive) this.log(`\nThe same, without questions:\n  ${commandLine(spec, ctx.topology.region)}`)
    }
    return result
  }
}
