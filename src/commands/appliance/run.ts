import {availableParallelism} from 'node:os'
import {startAppliance} from '../../appliance/appliance.js'
import {APPLIANCE_FLAGS} from '../../appliance/run-flags.js'
import {GENEVE_PORT} from '../../generated/abi.js'
import {parseListen, parseSources} from '../../cidr.js'
import {BaseCommand} from '../../base-command.js'

export default class ApplianceRun extends BaseCommand<typeof ApplianceRun> {
  static override summary = 'Run the GENEVE data plane on this GWLB appliance (root)'
  static override description = `Receives GWLB traffic on UDP ${GENEVE_PORT}, creates a gwi-X/gwo-X tunnel pair per GWLB endpoint (gwlbtun's names), forwards in two-arm (NAT egress) or one-arm (inspect and return) mode with its own nftables table, answers GWLB health checks, and undoes everything on SIGINT/SIGTERM.`
  static override enableJsonFlag = false
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --mode one-arm --health-port 8080 --idle-timeout 600',
    '<%= config.bin %> <%= command.id %> --no-rules -c /opt/hooks/tunnel.sh -r /opt/hooks/tunnel.sh',
  ]

  static override flags = APPLIANCE_FLAGS


  async run(): Promise<void> {
    const f = this.flags
    const healthFormat = f['health-json'] ? 'json' : f['health-status-only'] ? 'status' : f['health-format']
    // Taken before the start: a signal that arrives between the ready line and the end of the start (a
    // supervisor that stops it as soon as it is ready) must stop it cleanly, not kill it with its rules in place.
    const signal = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    // SIGHUP (systemctl reload): the policy file again. Never the default action, which would end the process.
    let reload = () => undefined as void
    process.on('SIGHUP', () => reload())
    const appliance = await startAppliance({
      mode: f.mode,
      healthPort: f['health-port'],
      alsoHealthPorts: f['also-health-port'],
      healthFormat: healthFormat as 'text' | 'json' | 'status',
      idleTimeout: f['idle-timeout'],
      flowTimeout: f['flow-timeout'],
      maxFlows: f['max-flows'],
      maxTunnels: f['max-tunnels'],
      allowedSources: f['allowed-sources'] === undefined ? undefined : parseSources(f['allowed-sources'], '--allowed-sources'),
      metricsListen: parseListen(f['metrics-listen'], '--metrics-listen'),
      workers: f.workers ?? availableParallelism(),
      batch: f.batch,
      gso: f.gso,
      datapath: f.datapath,
      geneveInterface: f['geneve-interface'],
      onCreate: f['on-create'],
      onDestroy: f['on-destroy'],
      rules: f.rules,
      egressInterface: f['egress-interface'],
      sourceDestCheck: f['source-dest-check'] as 'auto' | 'skip',
      genevePort: f['geneve-port'],
      inspect: {mode: f.inspect, queues: f['inspect-queues'], fail: f['inspect-fail']},
      policy: f.policy,
      policyEngine: f['policy-engine-rules'] ? {rulesFile: f['policy-engine-rules'], socket: f['inspect-socket']} : undefined,
      log: (message) => this.logToStderr(message),
    })
    reload = () => void appliance.reloadPolicy()
    try {
      this.logToStderr(`${await Promise.race([signal, appliance.failed])}: stopping`)
    } finally {
      // Also when the data plane failed: tear down cleanly, then exit non-zero so that systemd restarts it.
      await appliance.stop()
      this.logToStderr('stopped')
    }
  }
}
