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

/**
 * The unit that keeps `gwlb appliance run` going: after the network is up, restarted 5 s after any exit, and
 * sandboxed to what the data plane needs. It runs as root, but with only the network capabilities (links,
 * routes, nftables and the raw socket back to the GWLB; a health port below 1024), no way to gain others, the
 * system read-only but for its state in /run/gwlb (and `writable` paths, for hooks that write), /proc/sys
 * writable for its sysctls, and /dev/net/tun. Hooks run with the same restrictions.
 */
export function renderUnit(command: string[], options: {writable?: string[]} = {}): string {
  return `[Unit]
Description=gwlb GENEVE appliance data plane (AWS Gateway Load Balancer target)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${command.map(systemdQuote).join(' ')}
# systemctl reload: the egress policy file again (--policy), applied whole or not at all.
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=5s
# SIGTERM: health goes 503, destroy hooks run, rules and sysctls are restored.
KillSignal=SIGTERM
TimeoutStopSec=60s
LimitNOFILE=65536
${SANDBOX}${(options.writable ?? []).map((path) => `ReadWritePaths=${systemdQuote(path)}\n`).join('')}
[Install]
WantedBy=multi-user.target
`
}

/** What the data plane may do, and no more (systemd.exec(5)); the netns tests run the daemon under these same lines. */
const SANDBOX = `CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_BPF
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=tmpfs
PrivateTmp=yes
# /run/gwlb: what a crashed run left, for the next start to undo; kept across restarts.
RuntimeDirectory=gwlb
RuntimeDirectoryPreserve=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
`

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
