import {execFile} from 'node:child_process'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {UserError} from './errors.js'

/**
 * An operator's Suricata rules file, checked before anything changes, wherever it is given: the lab's engines,
 * `gwlb rules push` on a laptop, and each appliance before it reloads its engine with a pushed file.
 */
export const SURICATA_CONFIG = '/etc/suricata/suricata.yaml'

/** Where an appliance's engine logs (eve.json, suricata.log): its own folder, turned over by gwlb's rule. */
export const ENGINE_LOG_DIR = '/var/log/gwlb-ids'
export const ENGINE_EVE = `${ENGINE_LOG_DIR}/eve.json`

/** The eve event types an engine may log besides its alerts (`--ids-events`); alerts are always logged. */
export const EVE_EVENTS = ['flow', 'dns', 'tls', 'http', 'anomaly', 'drop'] as const
export type EveEvent = (typeof EVE_EVENTS)[number]

/**
 * gwlb's part of Suricata's configuration (given with --include, the rest is the package's): the rule files,
 * the control socket, and for an inline engine that fails open, NFQUEUE's own fail-open, so that a queue the
 * engine cannot keep up with lets packets through instead of dropping them (as a detached engine does).
 * Its outputs replace the package's dozen: one eve.json with the alerts and the event types asked for, all that
 * is shipped, so that the disk holds nothing nobody reads; `logDir` moves it where the package's logrotate rule
 * (copytruncate, compressed at once: a shipper loses the tail) does not reach.
 */
export function suricataInclude(o: {ruleFiles: string[]; socket?: string; failOpenQueues: boolean; events: readonly EveEvent[]; logDir?: string}): string {
  return ['%YAML 1.1', '---', 'rule-files:', ...o.ruleFiles.map((f) => `  - ${f}`),
    ...(o.socket ? ['unix-command:', '  enabled: yes', `  filename: ${o.socket}`] : []),
    ...(o.failOpenQueues ? ['nfq:', '  fail-open: yes'] : []),
    ...(o.logDir ? [`default-log-dir: ${o.logDir}`] : []),
    'outputs:', '  - eve-log:', '      enabled: yes', '      filetype: regular', '      filename: eve.json', '      types:',
    ...['alert', ...o.events].map((t) => `        - ${t}`), ''].join('\n')
}

/**
 * How the appliance's engine logs turn over: renamed (the shipper finishes eve.json.1 by its inode, so it is
 * compressed only a turn later), at 256 MB or daily, 8 kept; Suricata reopens its files on SIGHUP.
 */
export const engineLogrotate = (logDir: string, reopen: string) => `${logDir}/*.json ${logDir}/*.log {
  daily
  maxsize 256M
  rotate 8
  missingok
  notifempty
  compress
  delaycompress
  sharedscripts
  postrotate
    ${reopen}
  endscript
}
`

/** A rule as Suricata writes one: action, header, then options in parentheses with a signature id. */
const RULE = /^(alert|drop|pass|reject|rejectsrc|rejectdst|rejectboth|config)\s+\S+\s+\S+\s+\S+\s+(->|<>)\s+\S+\s+\S+\s+\(.*\bsid\s*:\s*\d+\s*;.*\)\s*$/

/** The rules in a file: lines that are neither blank nor comments. */
export const ruleCount = (text: string) => text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length

/**
 * Refuses a rules file Suricata would not load, naming the line: Suricata's own test mode where it is installed
 * (it loads the rules and exits); elsewhere (`needEngine` false: a laptop that only stages the file) a reading of
 * each line's shape, which names the line but cannot judge every keyword: the appliances test it again.
 */
export async function checkRules(file: string, o: {needEngine: boolean}): Promise<{rules: number}> {
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new UserError(`cannot read ${file}: ${error.message}`, 'give a Suricata rules file')
  })
  const dir = await mkdtemp(join(tmpdir(), 'gwlb-rules-'))
  try {
    await promisify(execFile)('suricata', ['-T', '-c', SURICATA_CONFIG, '-S', file, '-l', dir, '--set', 'unix-command.enabled=no'])
  } catch (error) {
    const e = error as NodeJS.ErrnoException & {stderr?: string; stdout?: string}
    if (e.code === 'ENOENT' && o.needEngine) throw new UserError('Suricata is not installed', 'install it (Debian 12: apt-get install -t bookworm-backports suricata), or leave --ids out')
    if (e.code === 'ENOENT') return shapeChecked(file, text)
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}`
    const why = /^E: [\w-]+: (.*)$/m.exec(output)?.[1] ?? e.message.split('\n')[0]
    const line = / at line (\d+)$/m.exec(output)?.[1]
    throw new UserError(`${file}${line ? `, line ${line}` : ''}: Suricata refuses it: ${why}`, 'fix the rule, then run this again; nothing was changed')
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
  return {rules: ruleCount(text)}
}

function shapeChecked(file: string, text: string): {rules: number} {
  const lines = text.split('\n')
  const bad = lines.findIndex((l) => l.trim() && !l.trim().startsWith('#') && !RULE.test(l.trim()))
  if (bad >= 0)
    throw new UserError(`${file}, line ${bad + 1}: not a Suricata rule (ACTION PROTO SRC PORT -> DST PORT (OPTIONS; sid:N;))`, 'fix the rule, then run this again; nothing was changed')
  return {rules: ruleCount(text)}
}
