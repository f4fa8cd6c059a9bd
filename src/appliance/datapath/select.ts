import {ipv4Text, type Ipv4Blocks} from '../../cidr.js'
import {UserError} from '../../errors.js'
import {defaultRouteInterface, ipv4Addresses, routeInterface} from '../host/system.js'
import {BpfDataPath} from './bpf/bpf-path.js'
import {FastPath} from './bpf/fast-path.js'
import type {DataPath, DataPathKind} from './datapath.js'
import {Forwarder, type ForwarderOptions} from './tun/forwarder.js'

export interface DataPathChoice {
  kind: DataPathKind
  /** The interface GENEVE arrives on; absent: the one that routes to the allowed sources, else the default route's. */
  device?: string
  allowedSources?: Ipv4Blocks
  port: number
  maxFlows: number
  /** Where a dead run made a clsact qdisc for its program (from the host's state), and where to record this run's. */
  leftClsact?: string
  recordClsact(device: string | undefined): Promise<void>
}

/**
 * The data path --datapath asks for. Whatever it is, a BPF program a dead run left on the GENEVE interface
 * goes first (it would hand packets to tunnels that are gone).
 */
export async function selectDataPath(choice: DataPathChoice, settings: ForwarderOptions): Promise<DataPath> {
  const first = choice.allowedSources?.blocks[0]
  const device = choice.device ?? (first !== undefined ? await routeInterface(ipv4Text(first)) : await defaultRouteInterface())
  // Also where a dead run had it, should the interface have changed since.
  for (const stale of new Set([device, choice.leftClsact])) {
    if (stale && (await ipv4Addresses(stale)) && FastPath.undoLeftovers(stale, choice.leftClsact === stale)) settings.log(`removed the BPF program a previous run left on ${stale}`)
  }
  if (choice.leftClsact) await choice.recordClsact(undefined)
  if (choice.kind === 'tun') return new Forwarder(settings)
  if (!device) {
    if (choice.kind === 'bpf') throw new UserError('the BPF data path needs the interface GENEVE arrives on, and no route names it', 'pass --geneve-interface')
    settings.log('datapath auto: the TUN path, since no route names the interface GENEVE arrives on (pass --geneve-interface)')
    return new Forwarder(settings)
  }
  const {port, maxFlows, allowedSources, recordClsact} = choice
  for (const [address, via] of await routedElsewhere(allowedSources?.blocks, device))
    settings.log(`datapath: GENEVE from ${address} would come in on ${via}, not on ${device} where the kernel path is: it takes the TUN path (if ${device} is wrong, pass --geneve-interface)`)
  return new BpfDataPath(choice.kind, settings, {device, port, maxFlows, flowTimeout: settings.flowTimeout, allowedSources, recordClsact})
}

/**
 * The first few allowed blocks whose route leaves by another interface than the GENEVE one, with that interface:
 * their datagrams would miss the programs. (On EC2 all of them leave by the one ENI.)
 */
async function routedElsewhere(blocks: Uint32Array | undefined, device: string): Promise<[string, string][]> {
  const CHECKED = 8
  const found: [string, string][] = []
  for (let i = 0; blocks && i < Math.min(blocks.length, CHECKED * 2); i += 2) {
    const address = ipv4Text(blocks[i]!)
    const via = await routeInterface(address)
    if (via && via !== device) found.push([address, via])
  }
  return found
}
