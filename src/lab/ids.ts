import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {alertOf, type Alert} from '../eve.js'
import type {InspectFail} from '../appliance/host/inspection.js'
import {MONITOR} from '../inspect-hook.js'
import {SURICATA_CONFIG, suricataInclude} from '../ids-rules.js'

/**
 * Suricata in the lab: one engine per appliance namespace, on that appliance's inspection hook (`--inspect`):
 * af-packet on the monitor interface (ids) or NFQUEUE (ips). Its alerts (eve.json) stay in the lab's folder.
 */
export type IdsMode = 'ids' | 'ips'
export const IDS_MODES: readonly IdsMode[] = ['ids', 'ips']

export interface LabIds {
  mode: IdsMode
  /** The rules the engines load (the lab's own copy). */
  rules: string
  /** NFQUEUE queues (ips): one per engine thread. */
  queues: number
  /** What an appliance does while its engine is not attached. */
  fail: InspectFail
}

/** The example rules gwlb ships: an alert on `uid=0(root)` in any packet, a drop of HTTP to Host blocked.example. */
export const EXAMPLE_RULES = fileURLToPath(new URL('../../assets/lab-ids.rules', import.meta.url))

/** Where, in an engine's folder, the appliance puts the egress policy's domain rules for it. */
export const policyRulesOf = (dir: string) => join(dir, 'policy.rules')

/** The appliance flags that put the hook where this engine looks, and the policy's domain rules where it reads them. */
export const inspectFlags = (ids: LabIds, dir: string) => ({
  inspect: ids.mode, 'inspect-queues': ids.queues, 'inspect-fail': ids.fail, 'policy-engine-rules': policyRulesOf(dir), 'inspect-socket': join(dir, 'suricata.sock'),
})

/**
 * `suricata …` for an appliance, its logs (eve.json) and control socket in `dir`. The rules are named in an
 * included configuration, not with -S: Suricata reloads rules live only when its configuration names them.
 */
export async function suricataArgv(ids: LabIds, dir: string): Promise<string[]> {
  const include = join(dir, 'rules.yaml')
  // The operator's rules, and the egress policy's domain rules that the appliance writes (policyRulesOf).
  await writeFile(include, suricataInclude({ruleFiles: [ids.rules, policyRulesOf(dir)], failOpenQueues: ids.mode === 'ips' && ids.fail === 'open', events: []}))
  const capture = ids.mode === 'ips' ? Array.from({length: ids.queues}, (_, q) => ['-q', String(q)]).flat() : [`--af-packet=${MONITOR}`]
  // -k none: the copies and queued packets may carry partial checksums (offloads), which are not errors here.
  return ['suricata', '-c', SURICATA_CONFIG, '--include', include, '-l', dir, '-k', 'none', '--pidfile', join(dir, 'suricata.pid'),
    '--set', `unix-command.filename=${join(dir, 'suricata.sock')}`, ...capture]
}

/** The alerts in an appliance's eve.json, oldest first. */
export async function readAlerts(eve: string, appliance: string): Promise<Alert[]> {
  const text = await readFile(eve, 'utf8').catch(() => '')
  return text.split('\n').flatMap((line) => alertOf(line, appliance) ?? [])
}
