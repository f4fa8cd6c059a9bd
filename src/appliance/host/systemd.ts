import {mkdir, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {UserError} from '../../errors.js'
import {run} from './system.js'

export const UNIT_NAME = 'gwlb-appliance.service'
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`

/** Quotes one argument for a systemd ExecStart= line (double quotes; `%` and `$` are systemd specifiers). */
export function systemdQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg) && !arg.includes('%')) return arg
  return `"${arg.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%').replaceAll('$', '$$$$')}"`
}

/** The unit that keeps `gwlb appliance run` going: after the network is up, restarted 5 s after any exit. */
export function renderUnit(command: string[]): string {
  return `[Unit]
Description=gwlb GENEVE appliance data plane (AWS Gateway Load Balancer target)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${command.map(systemdQuote).join(' ')}
Restart=always
RestartSec=5s
# SIGTERM: health goes 503, destroy hooks run, rules and sysctls are restored.
KillSignal=SIGTERM
TimeoutStopSec=60s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

export interface InstallResult {
  path: string
  enabled: boolean
  started: boolean
}

export async function installUnit(unit: string, options: {path: string; enable: boolean; now: boolean}): Promise<InstallResult> {
  await mkdir(dirname(options.path), {recursive: true})
  await writeFile(options.path, unit, {mode: 0o644})
  if (options.enable || options.now) {
    const systemctl = async (...args: string[]) => {
      try {
        await run('systemctl', args)
      } catch (error) {
        throw new UserError(`systemctl ${args.join(' ')} failed: ${(error as Error).message}`, `the unit is written to ${options.path}; start it by hand`)
      }
    }
    await systemctl('daemon-reload')
    await systemctl('enable', ...(options.now ? ['--now'] : []), UNIT_NAME)
  }
  return {path: options.path, enabled: options.enable || options.now, started: options.now}
}
