import {putRules} from '../host/engine-control.js'
import {run} from '../host/system.js'
import {engineRules} from './suricata.js'
import {POLICY_TABLE, renderPolicy, ruleCounters, type RuleCounters} from './nft.js'
import {loadPolicy, shortVersion, type Action, type Policy} from '../../policy.js'

/** What the appliance enforces, for the report, /metrics and whoever pushed it. */
export interface PolicyReport {
  file: string
  /** SHA-256 of the policy in force, and since when. */
  sha256: string
  appliedAt: string
  default: Action
  /** Per rule, in order, then the default. */
  rules: RuleCounters[]
  /** The last change that was refused (a bad file, or nft's refusal); the policy before it stays in force. */
  refused?: {at: string; message: string}
}

/** Where the inspection engine reads the policy's domain rules, and its control socket (to reload them). */
export interface PolicyEngine {
  rulesFile: string
  socket?: string
  /** Whether the engine holds the traffic (--inspect ips) and none passes without it (--inspect-fail closed). */
  enforcing: boolean
}

/**
 * Until the report `read` gives says `sha256` is in force, or that a change was refused since `since` (the
 * refusal's message), or `timeoutMs` passed ('timeout').
 */
export async function untilInForce(read: () => Promise<PolicyReport | undefined>, sha256: string, since: number, timeoutMs = 15_000): Promise<'in-force' | 'timeout' | {refused: string; keeps?: string}> {
  for (;;) {
    const report = await read()
    if (report?.sha256 === sha256) return 'in-force'
    if (report?.refused && Date.parse(report.refused.at) >= since) return {refused: report.refused.message, keeps: report.sha256}
    if (Date.now() - since > timeoutMs) return 'timeout'
    await new Promise((r) => setTimeout(r, 50))
  }
}

export interface EgressPolicyOptions {
  file: string
  engine?: PolicyEngine
  log(message: string): void
  /** Told every change of what is in force (or of a refusal): where the lab and `policy show` read it. */
  publish?(report: PolicyReport): Promise<void>
}

const COUNTERS_EVERY_MS = 2000

/**
 * The policy file, in force: applied before the first packet is forwarded, again on reload() (SIGHUP) as one
 * nft transaction; a file that does not load or apply changes nothing (what was in force stays, and says so).
 */
export class EgressPolicy {
  private policy?: Policy
  private appliedAt = ''
  private counters: RuleCounters[] = []
  private refused?: PolicyReport['refused']
  private timer?: NodeJS.Timeout
  /** Reloads one after another: two SIGHUPs in a row apply the file as it is last. */
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly options: EgressPolicyOptions) {}

  /** Applies the file; throws (a one-line error) if it does not load: an appliance does not start without its policy. */
  async start(): Promise<void> {
    await this.apply(await loadPolicy(this.options.file))
    this.timer = setInterval(() => void this.readCounters(), COUNTERS_EVERY_MS)
    this.timer.unref()
  }

  /** Reads the file again and puts it in force, or keeps what is in force; resolves when done either way. */
  reload(): Promise<void> {
    this.queue = this.queue.then(async () => {
      try {
        const policy = await loadPolicy(this.options.file)
        if (policy.sha256 === this.policy?.sha256) return this.options.log(`policy ${shortVersion(policy.sha256)} is in force already`)
        await this.apply(policy)
      } catch (error) {
        const message = (error as Error).message.split('\n')[0]!
        this.refused = {at: new Date().toISOString(), message}
        this.options.log(`policy change refused: ${message}; ${this.policy ? `policy ${shortVersion(this.policy.sha256)} stays in force` : 'no policy in force'}`)
        await this.publish()
      }
    })
    return this.queue
  }

  get status(): PolicyReport | undefined {
    if (!this.policy) return undefined
    return {file: this.options.file, sha256: this.policy.sha256, appliedAt: this.appliedAt, default: this.policy.default, rules: this.counters, ...(this.refused ? {refused: this.refused} : {})}
  }

  /** Removes the policy's table (at a clean stop; a dead run's goes with the next start's leftovers). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.queue
    await run('nft', ['delete', 'table', 'inet', POLICY_TABLE]).catch(() => undefined)
  }

  private async apply(policy: Policy): Promise<void> {
    const started = Date.now()
    const {engine} = this.options
    if (policy.rules.some((r) => r.domains) && !engine?.enforcing)
      throw new Error('domain rules are judged by the inspection engine: run with --inspect ips --inspect-fail closed and --policy-engine-rules FILE (a rules file the engine loads)')
    const undo = engine ? await putRules(engine.rulesFile, engine.socket, engineRules(policy)) : undefined
    await run('nft', ['-f', '-'], renderPolicy(policy)).catch(async (error: Error) => {
      await undo?.().catch(() => undefined)
      throw new Error(`nft refused policy ${shortVersion(policy.sha256)}: ${error.message.split('\n').find((l) => /error/i.test(l)) ?? error.message}`)
    })
    this.policy = policy
    this.appliedAt = new Date().toISOString()
    this.refused = undefined
    this.counters = []
    await this.readCounters()
    const blocks = policy.rules.reduce((n, r) => n + (r.destinations?.length ?? 0), 0)
    this.options.log(`policy ${shortVersion(policy.sha256)} in force: ${policy.rules.length} rules (${blocks} destination blocks), default ${policy.default}, applied in ${Date.now() - started} ms`)
    await this.publish()
  }

  private async readCounters(): Promise<void> {
    const policy = this.policy
    if (!policy) return
    const json = await run('nft', ['-j', 'list', 'counters', 'table', 'inet', POLICY_TABLE]).catch(() => undefined)
    // A reload may have put another policy in force meanwhile: these counters would be the old one's.
    if (!json || policy !== this.policy) return
    this.counters = ruleCounters(policy, json)
    await this.publish()
  }

  private async publish(): Promise<void> {
    const report = this.status
    if (report) await this.options.publish?.(report).catch((error: Error) => this.options.log(`policy status not recorded: ${error.message}`))
  }
}
