import type {Mode} from '../mode.js'
import type {Stickiness} from './flows.js'
import type {HealthCheckSettings} from './health-checks.js'
import type {Failover} from './stand-in.js'
import type {LabIds} from './ids.js'

/** What `gwlb lab up` was asked for; kept in the lab's folder, so that fail/heal/status see the same lab. */
export interface LabSettings {
  name: string
  appliances: number
  mode: Mode
  failover: Failover
  stickiness: Stickiness
  health: HealthCheckSettings
  /** Extra `gwlb appliance run` flags, after `--`. */
  applianceArgs: string[]
  /** Suricata on every appliance (--ids suricata). */
  ids?: LabIds
  /** The egress policy the appliances start with (the lab keeps its own copy; none: everything passes). */
  policy?: string
}

export const MAX_APPLIANCES = 50

/**
 * The lab's addresses: the workload (client) behind the GWLB endpoint, the GWLB node on the appliance subnet,
 * appliance i at .10+i there and at .100+i on the internet side (its egress address in two-arm mode). The
 * workload's side is dual-stack (IPv6 below); GENEVE itself runs over IPv4, as GWLB's does.
 */
export const ADDRESSES = {
  client: '10.0.1.10',
  endpoint: '10.0.1.1',
  clientSubnet: '10.0.1.0/24',
  node: '10.77.0.1',
  applianceSubnet: '10.77.0.0/24',
  internet: '198.18.0.10',
  nodeEgress: '198.18.0.1',
  applianceAddress: (i: number) => `10.77.0.${10 + i}`,
  applianceEgress: (i: number) => `198.18.0.${100 + i}`,
} as const

export const ADDRESSES6 = {
  client: 'fd00:a::10',
  endpoint: 'fd00:a::1',
  clientSubnet: 'fd00:a::/64',
  internet: 'fd00:18::10',
  nodeEgress: 'fd00:18::1',
  applianceEgress: (i: number) => `fd00:18::${100 + i}`,
} as const

/** The endpoint's ids, as GWLB would put them in the options (any 64-bit values do; these read well in dumps). */
export const ENDPOINT = {eni: '0000000000001ab0', attachment: '00000000000a77ac'}

/** Fixed nodes; appliances are appliance-1 … appliance-N. */
export const FIXED_NODES = ['client', 'gwlb', 'internet'] as const

export const applianceNode = (i: number) => `appliance-${i}`

export const applianceNodes = (n: number) => Array.from({length: n}, (_, i) => applianceNode(i + 1))

export const nodesOf = (s: Pick<LabSettings, 'appliances'>) => [...FIXED_NODES, ...applianceNodes(s.appliances)]

/** A node's network namespace. */
export const namespaceOf = (lab: string, node: string) => `gwlb-${lab}-${node}`

/** Whether a namespace is one of this lab's nodes (the lab "a" does not own "gwlb-a-b-client" of the lab "a-b"). */
export const ownsNamespace = (lab: string, ns: string) =>
  ns.startsWith(`gwlb-${lab}-`) && /^(client|gwlb|internet|appliance-\d+)$/.test(ns.slice(`gwlb-${lab}-`.length))

export const LAB_NAME = /^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/
export const DEFAULT_LAB = 'lab'

/** How messages name a lab: "the lab" for the default one, "the lab NAME" for others. */
export const theLab = (lab: string) => (lab === DEFAULT_LAB ? 'the lab' : `the lab ${lab}`)

/** The --name to repeat in a suggested command (none for the default lab). */
export const nameArg = (lab: string) => (lab === DEFAULT_LAB ? '' : ` --name ${lab}`)
