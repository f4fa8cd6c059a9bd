import {Flags} from '@oclif/core'
import {parseListen, parseSources} from '../cidr.js'
import {UserError} from '../errors.js'
import {GENEVE_PORT, MAX_TUNNELS} from '../generated/abi.js'
import {DEFAULT_MODE, MODE_NAMES, MODES} from '../mode.js'
import {DATA_PATH_KINDS} from './datapath/datapath.js'
import {INSPECT_FAILS, INSPECT_MODES} from './host/inspection.js'
import {MONITOR} from '../inspect-hook.js'
import {interfaceNameProblem} from './host/names.js'

/** An interface name as a flag's value: one the kernel takes, or bad usage. */
function checkedInterface(name: string): string {
  const problem = interfaceNameProblem(name)
  if (problem) throw new UserError(`--egress-interface ${JSON.stringify(name)}: ${problem}`, 'give an interface of this host (ip -br link lists them)', 'usage')
  return name
}

/** `gwlb appliance run`'s flags, the one definition of them: the parser takes them, install and the lab render them back. */
export const APPLIANCE_FLAGS = {
  mode: Flags.option({description: MODE_NAMES.map((m) => `${m}: ${MODES[m].description}`).join('; '), options: MODE_NAMES, default: DEFAULT_MODE})(),
  'health-port': Flags.integer({char: 'p', description: 'TCP port for GWLB health checks', default: 80, min: 1, max: 65535}),
  'also-health-port': Flags.integer({description: 'another port that answers health checks too (repeatable; init sets it while a fleet moves to a new --health-port)', multiple: true, min: 1, max: 65535}),
  'health-format': Flags.string({description: 'health answer body', options: ['text', 'json', 'status'], default: 'text'}),
  'health-json': Flags.boolean({char: 'j', description: 'same as --health-format json (gwlbtun -j)', exclusive: ['health-format', 'health-status-only']}),
  'health-status-only': Flags.boolean({char: 's', description: 'same as --health-format status: code only, empty body (gwlbtun -s)', exclusive: ['health-format']}),
  'idle-timeout': Flags.integer({char: 't', description: 'seconds without traffic before a tunnel is destroyed (0 = never); longer than the GWLB\'s flow timeout (350 s), so that no live flow loses its tunnel', default: 600, min: 0}),
  'max-tunnels': Flags.integer({description: 'tunnel pairs at most (one per GWLB endpoint); packets of endpoints beyond are dropped and counted (tunnel-limit)', default: 128, min: 1, max: MAX_TUNNELS}),
  // These two are checked as they are parsed and kept as given: `appliance install` writes them back as text.
  'allowed-sources': Flags.string({description: 'IPv4 blocks GENEVE may come from, comma-separated (init passes the appliance subnets; default on EC2: this instance\'s subnet; any: no limit); the rest is dropped before decoding (source-not-allowed)', parse: async (v) => (parseSources(v, '--allowed-sources'), v)}),
  'metrics-listen': Flags.string({description: 'ADDRESS:PORT of the detailed report (/, /json) and Prometheus /metrics, or off; off loopback only this host and the allowed sources get an answer', default: '127.0.0.1:9641', parse: async (v) => (parseListen(v, '--metrics-listen'), v)}),
  'flow-timeout': Flags.integer({description: 'seconds without traffic before a flow is forgotten', default: 350, min: 1}),
  workers: Flags.integer({description: 'data-plane threads, each with its own socket and tunnel queues (default: one per CPU)', min: 1, max: 64}),
  'max-flows': Flags.integer({description: 'flows kept at most (128 bytes of memory each); a new flow pushes out the least recently seen one near it when its part of the table is full (gwlb_flow_evictions_total)', default: 262_144, min: 1}),
  'on-create': Flags.string({char: 'c', description: 'command run as `CMD CREATE gwi-X gwo-X <eni hex>` when a tunnel comes up'}),
  'on-destroy': Flags.string({char: 'r', description: 'command run as `CMD DESTROY gwi-X gwo-X <eni hex>` when a tunnel goes'}),
  gso: Flags.boolean({description: 'pass runs of one TCP/UDP flow through the tunnels as GSO packets, as GRO does on a NIC (--no-gso: packet by packet, for tools on gwi-/gwo- that need every packet apart)', default: true, allowNo: true}),
  datapath: Flags.option({description: 'what moves the packets: bpf (the kernel, with tc programs on the GENEVE interface and the tunnels; Linux 5.15+), tun (this process, through TUN devices), auto (bpf where it loads, else tun, said in one line)', options: DATA_PATH_KINDS, default: 'tun'})(),
  'geneve-interface': Flags.string({description: 'the interface GENEVE arrives on, for the BPF data path (default: the one that routes to --allowed-sources, else the default route\'s)', parse: async (v) => checkedInterface(v)}),
  rules: Flags.boolean({description: 'apply its own nftables rules, policy routes and sysctls (--no-rules: hooks only)', default: true, allowNo: true}),
  'egress-interface': Flags.string({description: 'two-arm egress interface (default: the interface of the default route)', parse: async (v) => checkedInterface(v)}),
  'source-dest-check': Flags.string({description: 'auto: in two-arm mode on EC2, turn the instance\'s check off and restore it on exit', options: ['auto', 'skip'], default: 'auto'}),
  batch: Flags.integer({description: 'packets moved per system call batch', default: 64, min: 1, max: 256, hidden: true}),
  inspect: Flags.option({description: `where an inspection engine sees the forwarded traffic: ids (a copy of every packet on the interface ${MONITOR}, for Suricata's af-packet, Zeek or tcpdump), ips (NFQUEUE, with the kernel's bypass while no engine is attached), or off`, options: INSPECT_MODES, default: 'off'})(),
  'inspect-queues': Flags.integer({description: 'NFQUEUE queues for --inspect ips (0 to N-1, spread by flow): one per engine thread', default: 1, min: 1, max: 64}),
  'inspect-fail': Flags.option({description: 'with no engine attached: open (traffic flows uninspected, said in the report, /metrics and the log once a minute) or closed (health answers 503: the GWLB moves new flows elsewhere)', options: INSPECT_FAILS, default: 'open'})(),
  policy: Flags.string({description: 'egress policy file (YAML or JSON; gwlb policy example prints one): in force before the first packet, read again on SIGHUP (systemctl reload), applied as one nftables transaction or not at all'}),
  'policy-engine-rules': Flags.string({description: 'a rules file the inspection engine loads, where --policy puts its domain rules (TLS SNI, HTTP Host) as Suricata rules; needs --inspect ips --inspect-fail closed', dependsOn: ['policy']}),
  'inspect-socket': Flags.string({description: 'the inspection engine\'s control socket (Suricata\'s unix-command), to reload the policy\'s domain rules live', dependsOn: ['policy-engine-rules']}),
  'geneve-port': Flags.integer({description: `UDP port for GENEVE (GWLB always uses ${GENEVE_PORT})`, default: GENEVE_PORT, hidden: true}),
}

export type ApplianceFlag = keyof typeof APPLIANCE_FLAGS

/**
 * The `appliance run` command line for these values (defaults left out): what `install` writes in the unit,
 * and what the lab starts; typed by the flags themselves, so a renamed flag breaks the build, not a lab.
 */
export function applianceRunArgs(values: Partial<Record<ApplianceFlag, unknown>>): string[] {
  const args: string[] = []
  for (const [name, definition] of Object.entries(APPLIANCE_FLAGS)) {
    const value = values[name as ApplianceFlag]
    if (value === undefined || value === definition.default) continue
    if (definition.type === 'boolean') args.push(value ? `--${name}` : `--no-${name}`)
    else for (const one of Array.isArray(value) ? value : [value]) args.push(`--${name}`, String(one))
  }
  return args
}
