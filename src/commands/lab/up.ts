import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {DEFAULTS} from '../../aws/settings-table.js'
import {TARGET_GROUP_HEALTH} from '../../aws/spec.js'
import {UserError} from '../../errors.js'
import {invokedAs} from '../../invocation.js'
import {afterDashes, labFlag} from '../../flags.js'
import {STICKINESS, type Stickiness} from '../../lab/flows.js'
import {labUp, type UpResult} from '../../lab/lab.js'
import {ADDRESSES, MAX_APPLIANCES, nameArg, theLab} from '../../lab/plan.js'
import {capitalized} from '../../render.js'
import {EXAMPLE_RULES, IDS_MODES} from '../../lab/ids.js'
import {INSPECT_FAILS} from '../../appliance/host/inspection.js'
import {resolve} from 'node:path'
import {DEFAULT_MODE, MODE_NAMES} from '../../mode.js'

export default class LabUp extends BaseCommand<typeof LabUp> {
  static override summary = 'Build a whole GWLB data path on this Linux box: a client, a GWLB stand-in, N appliances, an internet host (root)'
  static override description = `Network namespaces gwlb-NAME-client, -gwlb, -internet and -appliance-1…N. The client's traffic goes into a GWLB endpoint; the stand-in (GENEVE with the AWS options, a cookie per flow) spreads flows over the appliances by 5-tuple (or the stickiness given), health-checks them as the target group does and fails over as --failover says; each appliance runs the real \`gwlb appliance run\`, with the flags given after --. The internet host (${ADDRESSES.internet}) serves HTTP on port 80, UDP echo on port 7 and ping.`
  static override examples = [
    'sudo <%= config.bin %> <%= command.id %>',
    'sudo <%= config.bin %> <%= command.id %> --appliances 3 --mode one-arm --failover rebalance',
    'sudo <%= config.bin %> <%= command.id %> -- --on-create /opt/hooks/tunnel.sh --on-destroy /opt/hooks/tunnel.sh',
  ]
  static override strict = false

  static override flags = {
    name: labFlag,
    appliances: Flags.integer({description: 'appliances behind the GWLB stand-in', default: 2, min: 1, max: MAX_APPLIANCES}),
    mode: Flags.option({description: 'the appliances\' mode', options: MODE_NAMES, default: DEFAULT_MODE})(),
    failover: Flags.option({description: 'what happens to the flows of an appliance that turns unhealthy (the target group\'s target_failover)', options: ['rebalance', 'no-rebalance'] as const, default: DEFAULTS.failover})(),
    stickiness: Flags.option({description: 'what keeps a flow on its appliance', options: STICKINESS, default: DEFAULTS.stickiness as Stickiness})(),
    'health-protocol': Flags.option({description: 'how the stand-in checks the appliances', options: ['HTTP', 'TCP'] as const, default: DEFAULTS.healthProtocol})(),
    'health-port': Flags.integer({description: 'the appliances\' health port', default: DEFAULTS.healthPort, min: 1, max: 65535}),
    'health-interval': Flags.integer({description: 'seconds between health checks (the target group\'s; AWS allows 5 and up, the lab 1 and up)', default: TARGET_GROUP_HEALTH.intervalSeconds, min: 1, max: 300}),
    'healthy-threshold': Flags.integer({description: 'passed checks in a row that make an appliance healthy', default: TARGET_GROUP_HEALTH.healthyThreshold, min: 2, max: 10}),
    'unhealthy-threshold': Flags.integer({description: 'failed checks in a row that make it unhealthy', default: TARGET_GROUP_HEALTH.unhealthyThreshold, min: 2, max: 10}),
    ids: Flags.option({description: 'an inspection engine on every appliance, on its --inspect hook (Debian: suricata from bookworm-backports)', options: ['suricata'] as const})(),
    'ids-mode': Flags.option({description: 'ids (the default): the engine reads a copy of the traffic and alerts; ips: the traffic passes through it (NFQUEUE) and its drop rules drop', options: IDS_MODES, dependsOn: ['ids']})(),
    'ids-fail': Flags.option({description: 'an appliance whose engine is not attached: open (the default: traffic flows uninspected) or closed (its health check fails: the stand-in moves new flows to the others)', options: INSPECT_FAILS, dependsOn: ['ids']})(),
    policy: Flags.string({description: 'the egress policy every appliance starts with (gwlb policy example prints one; default: everything passes); change it live with gwlb lab policy push'}),
    'ids-rules': Flags.string({description: `the engine's rules (default: gwlb's example rules, ${EXAMPLE_RULES}); checked with Suricata's own test mode first`, dependsOn: ['ids']}),
  }

  async run(): Promise<UpResult> {
    const f = this.flags
    const applianceArgs = afterDashes(this.argv)
    if (applianceArgs === undefined && (await this.parse(LabUp)).argv.length)
      throw new UserError(`unexpected arguments: ${(await this.parse(LabUp)).argv.join(' ')}`, 'flags for the appliances go after --, e.g. gwlb lab up -- --no-gso', 'usage')
    const interval = f['health-interval']
    const result = await labUp({
      name: f.name, appliances: f.appliances, mode: f.mode, failover: f.failover, stickiness: f.stickiness, applianceArgs: applianceArgs ?? [],
      policy: f.policy === undefined ? undefined : resolve(f.policy),
      ids: f.ids ? {mode: f['ids-mode'] ?? 'ids', rules: resolve(f['ids-rules'] ?? EXAMPLE_RULES), queues: 1, fail: f['ids-fail'] ?? 'open'} : undefined,
      health: {
        protocol: f['health-protocol'], port: f['health-port'], intervalSeconds: interval, timeoutSeconds: Math.min(TARGET_GROUP_HEALTH.timeoutSeconds, interval),
        healthyThreshold: f['healthy-threshold'], unhealthyThreshold: f['unhealthy-threshold'],
      },
    }, (line) => this.jsonEnabled() || this.logToStderr(line))
    const lab = nameArg(f.name)
    this.log(`${capitalized(theLab(f.name))} is up in ${result.seconds.toFixed(1)} s: ${result.nodes.join(', ')}.`)
    this.log(`  The GWLB stand-in takes an appliance as healthy after ${f['healthy-threshold']} passed checks ${interval} s apart; until one is, new flows go to all (fail open).`)
    const gwlb = invokedAs()
    this.log(`  Try:  sudo ${gwlb} lab exec${lab} client -- curl -s http://${ADDRESSES.internet}/`)
    this.log(`        sudo ${gwlb} lab status${lab}`)
    if (f.ids) this.log(`        sudo ${gwlb} lab exec${lab} client -- curl -s http://${ADDRESSES.internet}/id; sudo ${gwlb} lab alerts${lab}`)
    this.log(`  Done: sudo ${gwlb} lab down${lab}`)
    return result
  }
}
