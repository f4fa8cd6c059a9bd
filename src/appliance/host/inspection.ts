import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {UserError} from '../../errors.js'
import {run, writeSysctl} from './system.js'
import {MONITOR} from '../../inspect-hook.js'

/**
 * Where an inspection engine (Suricata, Zeek, tcpdump…) sees the forwarded traffic, through the kernel alone:
 * never a copy through this process, and the same on both data paths (the BPF path hands decapsulated packets
 * to gwi-X, so they cross the forward hook as the TUN path's do).
 *
 * ips: forwarded packets go to NFQUEUE (--inspect-queues queues, spread by flow over the engine's threads) with
 *   the kernel's bypass: while no engine is attached, traffic flows uninspected rather than not at all. nft's own
 *   `queue` statement where the kernel has it, else the xtables NFQUEUE target (nft_compat) in a chain of gwlb's
 *   own, `gwlb-inspect` in iptables-nft's mangle table.
 * ids: a copy of every forwarded packet appears on one stable interface, MONITOR (nft `dup` in gwlb's own ip and
 *   ip6 tables), whatever tunnels come and go. It is one end of a veth pair: the copies are sent into the other
 *   end, which has ARP off, so they go to its own MAC address: on arrival they are for another host, which the
 *   kernel drops (never forwards), and only packet sockets on MONITOR see them.
 */
export type InspectMode = 'off' | 'ids' | 'ips'
export type InspectFail = 'open' | 'closed'
export const INSPECT_MODES: readonly InspectMode[] = ['off', 'ids', 'ips']
export const INSPECT_FAILS: readonly InspectFail[] = ['open', 'closed']

/** The pair's other end, where the copies are sent. */
const MONITOR_FEED = 'gwlb-mon-feed'
const NEXT_HOP = {ipv4: '169.254.103.119', ipv6: 'fe80::6777'}
const CHAIN = 'gwlb-inspect'
const IPTABLES = {ipv4: 'iptables-nft', ipv6: 'ip6tables-nft'} as const

export type InspectionState = 'off' | 'attached' | 'bypassed'

export interface InspectionReport {
  mode: InspectMode
  fail: InspectFail
  /** attached: an engine takes the traffic; bypassed: none does, so traffic flows uninspected. */
  state: InspectionState
  /** ips: the queues; ids: the monitor interface. */
  where: string
  /** ips: packets handed to the engine (and the engine's verdicts); ids: copies sent to the monitor. */
  packets: number
  /** ips: packets the queues dropped (full) or the engine failed to take. */
  queueDrops: number
}

export interface InspectionOptions {
  mode: InspectMode
  queues: number
  fail: InspectFail
  log(message: string): void
}

/** The nft rules of the hook, for gwlb's own ruleset; empty where the hook is elsewhere (iptables, or off). */
export interface InspectionRules {
  /** Lines for `table inet gwlb`'s forward chain (nft's own queue). */
  forward: string[]
  /** Whole tables beside it (ids: the ip and ip6 tables that copy to the monitor). */
  tables: string
}

const queueRange = (queues: number) => (queues === 1 ? '0' : `0-${queues - 1}`)

/** Forwarded traffic of the tunnels: what came out of a gwi-, and (two-arm's replies) what goes into a gwo- from elsewhere. */
const FORWARDED = ['iifname "gwi-*"', 'iifname != "gwi-*" oifname "gwo-*"']

export function inspectionRules(mode: InspectMode, queues: number, nftQueue: boolean): InspectionRules {
  if (mode === 'ips' && nftQueue) return {forward: FORWARDED.map((m) => `${m} queue flags bypass,fanout to ${queueRange(queues)}`), tables: ''}
  if (mode !== 'ids') return {forward: [], tables: ''}
  const table = (family: 'ip' | 'ip6', hop: string) =>
    `table ${family} gwlb {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n${FORWARDED.map((m) => `\t\t${m} dup to ${hop} device "${MONITOR_FEED}"\n`).join('')}\t}\n}\n`
  return {forward: [], tables: table('ip', NEXT_HOP.ipv4) + table('ip6', NEXT_HOP.ipv6)}
}

/**
 * Undoes what a run left (or, at a clean stop, made): the iptables chains, and the monitor pair unless an ids run
 * keeps it (the nft tables go with gwlb's ruleset). Looked for first: a run that never inspected pays one `nft` call.
 */
export async function removeInspectionLeftovers(keepMonitor: boolean): Promise<string[]> {
  const left: string[] = []
  if (!keepMonitor && existsSync(`/sys/class/net/${MONITOR}`) && (await run('ip', ['link', 'del', MONITOR]).then(() => true, () => false))) left.push(`interface ${MONITOR}`)
  const chains = await run('nft', ['list', 'chains']).catch(() => '')
  if (!chains.includes(`chain ${CHAIN} `)) return left
  for (const tool of Object.values(IPTABLES)) {
    while (await run(tool, ['-t', 'mangle', '-D', 'FORWARD', '-j', CHAIN]).then(() => true, () => false));
    if (await run(tool, ['-t', 'mangle', '-F', CHAIN]).then(() => run(tool, ['-t', 'mangle', '-X', CHAIN])).then(() => true, () => false)) left.push(`${tool} chain ${CHAIN}`)
  }
  return left
}

/** Whether this kernel has nft's own queue statement (Ubuntu's do; some built without CONFIG_NFT_QUEUE do not). */
async function kernelHasNftQueue(): Promise<boolean> {
  const probe = 'gwlb-probe'
  const ruleset = `table inet ${probe} {\n\tchain c {\n\t\tqueue flags bypass to 0\n\t}\n}\ndelete table inet ${probe}\n`
  return run('nft', ['-f', '-'], ruleset).then(() => true, () => false)
}

/**
 * The NFQUEUE queues an engine has bound, in the namespace of `net` (this one's /proc/net, or /proc/<pid>/net).
 * One nfnetlink_queue line: queue, peer port id, waiting, copy mode, copy range, dropped, user dropped, last id.
 */
export async function boundQueues(net = '/proc/net'): Promise<Map<number, {dropped: number; packets: number}>> {
  const text = await readFile(`${net}/netfilter/nfnetlink_queue`, 'utf8').catch(() => '')
  const queues = new Map<number, {dropped: number; packets: number}>()
  for (const line of text.trim().split('\n').filter(Boolean)) {
    const n = line.trim().split(/\s+/).map(Number)
    queues.set(n[0]!, {dropped: n[5]! + n[6]!, packets: n[7]!})
  }
  return queues
}

/** The interfaces (by index) that packet sockets listen on, in the namespace of `net` (/proc/net/packet names them). */
export async function packetSocketInterfaces(net = '/proc/net'): Promise<number[]> {
  const text = await readFile(`${net}/packet`, 'utf8').catch(() => '')
  return text.trim().split('\n').slice(1).map((line) => Number(line.trim().split(/\s+/)[4]))
}

export class Inspection {
  private nftQueue = false
  private monitorIndex = 0
  private report: InspectionReport
  private timer?: NodeJS.Timeout
  private lastSaid = 0

  constructor(private readonly options: InspectionOptions) {
    const where = options.mode === 'ips' ? `NFQUEUE ${queueRange(options.queues)}` : options.mode === 'ids' ? MONITOR : ''
    this.report = {mode: options.mode, fail: options.fail, state: options.mode === 'off' ? 'off' : 'bypassed', where, packets: 0, queueDrops: 0}
  }

  get mode(): InspectMode {
    return this.options.mode
  }

  /** The hook's nft part, for gwlb's ruleset (after start()). */
  rules(): InspectionRules {
    return inspectionRules(this.options.mode, this.options.queues, this.nftQueue)
  }

  /** Makes the hook's non-nft part: the monitor pair (ids) or, without nft's queue, the iptables chain (ips). */
  async start(): Promise<void> {
    if (this.options.mode === 'ids') await this.makeMonitor()
    if (this.options.mode === 'ips') {
      this.nftQueue = await kernelHasNftQueue()
      if (!this.nftQueue) await this.queueWithIptables()
    }
    if (this.options.mode !== 'off') {
      await this.refresh()
      this.timer = setInterval(() => void this.refresh(), 1000)
      this.timer.unref()
    }
  }

  /** The hook itself goes with the rest of gwlb's rules (Rules.stop). */
  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  /** With --inspect-fail closed, no engine attached means: do not take new flows (health 503). */
  get refusesTraffic(): boolean {
    return this.options.fail === 'closed' && this.report.state === 'bypassed'
  }

  get status(): InspectionReport {
    return {...this.report}
  }

  get description(): string {
    return this.options.mode === 'off' ? 'no inspection' : `${this.options.mode} on ${this.report.where} (fail ${this.options.fail})`
  }

  /** Made once and kept across runs (an engine bound to it stays bound), as it is set up here each start. */
  private async makeMonitor(): Promise<void> {
    if (!existsSync(`/sys/class/net/${MONITOR}`)) {
      await run('ip', ['link', 'add', MONITOR, 'type', 'veth', 'peer', 'name', MONITOR_FEED]).catch((error: Error) => {
        throw new UserError(`the monitor interface ${MONITOR} cannot be made (${error.message.split('\n')[0]})`, 'the kernel needs veth (CONFIG_VETH); or run with --inspect off')
      })
    }
    for (const name of [MONITOR, MONITOR_FEED]) {
      // Its own IPv6 chatter (router solicitations, MLD) would show up to the engine as traffic.
      await writeSysctl(`net.ipv6.conf.${name}.addr_gen_mode`, 1).catch(() => undefined)
      // No copy too large (a copy over the MTU with DF set would make the kernel send the client an ICMP
      // "fragmentation needed"), and GSO copies cut into what crossed the wire (gso_max_segs 1): an engine reads
      // packets, not 64 KB merges that its snap length would cut.
      await run('ip', ['link', 'set', name, 'mtu', '65535', 'gso_max_segs', '1', ...(name === MONITOR_FEED ? ['arp', 'off'] : []), 'up'])
    }
    this.monitorIndex = Number(await readFile(`/sys/class/net/${MONITOR}/ifindex`, 'utf8'))
  }

  private async queueWithIptables(): Promise<void> {
    const {queues} = this.options
    const spread = queues === 1 ? ['--queue-num', '0'] : ['--queue-balance', `0:${queues - 1}`, '--queue-cpu-fanout']
    const target = ['-j', 'NFQUEUE', ...spread, '--queue-bypass']
    for (const [family, tool] of Object.entries(IPTABLES)) {
      try {
        await run(tool, ['-t', 'mangle', '-N', CHAIN])
        await run(tool, ['-t', 'mangle', '-A', CHAIN, '-i', 'gwi-+', ...target])
        await run(tool, ['-t', 'mangle', '-A', CHAIN, '!', '-i', 'gwi-+', '-o', 'gwo-+', ...target])
        await run(tool, ['-t', 'mangle', '-I', 'FORWARD', '1', '-j', CHAIN])
      } catch (error) {
        if (family === 'ipv6') {
          this.options.log(`IPv6 is not inspected (${tool}: ${(error as Error).message.split('\n')[0]})`)
          continue
        }
        throw new UserError(`NFQUEUE cannot be set up (${tool}: ${(error as Error).message.split('\n')[0]})`, 'install iptables (its nft backend), or run with --inspect ids or off')
      }
    }
  }

  /** The engine's attachment and the hook's counters, once a second; says so once a minute while bypassed. */
  private async refresh(): Promise<void> {
    if (this.options.mode === 'ips') {
      const bound = await boundQueues()
      const ours = Array.from({length: this.options.queues}, (_, q) => bound.get(q))
      this.report.state = ours.every(Boolean) ? 'attached' : 'bypassed'
      this.report.packets = ours.reduce((sum, q) => sum + (q?.packets ?? 0), 0)
      this.report.queueDrops = ours.reduce((sum, q) => sum + (q?.dropped ?? 0), 0)
    } else {
      this.report.state = (await packetSocketInterfaces()).includes(this.monitorIndex) ? 'attached' : 'bypassed'
      const sent = await readFile(`/sys/class/net/${MONITOR}/statistics/rx_packets`, 'utf8').catch(() => '0')
      this.report.packets = Number(sent)
    }
    if (this.report.state === 'bypassed' && Date.now() - this.lastSaid >= 60_000) {
      this.lastSaid = Date.now()
      const effect = this.options.fail === 'closed' ? 'health answers 503 until one is' : 'traffic flows uninspected'
      this.options.log(`inspection bypassed: no engine attached to ${this.report.where}; ${effect}`)
    }
    if (this.report.state === 'attached') this.lastSaid = 0
  }
}
