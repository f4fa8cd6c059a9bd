import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {systemdQuote} from '../src/appliance/host/systemd.js'

const dir = mkdtempSync(join(tmpdir(), 'gwlb-install-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const gwlb = (args: string[], env: Record<string, string> = {}) =>
  execFileSync('./bin/run.js', args, {encoding: 'utf8', env: {...process.env, NO_COLOR: '1', ...env}})

/** systemd's own reading of an ExecStart= line: words, double quotes with backslash escapes, $$ and %%. */
function systemdWords(line: string): string[] {
  const words: string[] = []
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g
  for (const m of line.matchAll(re)) words.push((m[1]?.replace(/\\(.)/g, '$1') ?? m[2]!).replaceAll('$$', '$').replaceAll('%%', '%'))
  return words
}

const execStart = (unit: string) => systemdWords(unit.match(/^ExecStart=(.*)$/m)![1]!)

describe('gwlb appliance install', () => {
  it('prints a unit that runs `appliance run` with exactly the flags given, restarting after any exit', () => {
    const unit = gwlb(['appliance', 'install', '--print', '--mode', 'one-arm', '-p', '8080', '--also-health-port', '80', '--also-health-port', '81', '-c', '/opt/hook.sh "a b" $HOME 100%', '--no-rules'])
    expect(unit).toMatch(/^After=network-online\.target$/m)
    expect(unit).toMatch(/^Wants=network-online\.target$/m)
    expect(unit).toMatch(/^Restart=always$/m)
    expect(unit).toMatch(/^RestartSec=5s$/m)
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m)
    const [node, script, ...args] = execStart(unit)
    expect(node).toBe(process.execPath)
    expect(script).toBe(join(process.cwd(), 'bin', 'run.js'))
    expect(args).toEqual(['appliance', 'run', '--mode', 'one-arm', '--health-port', '8080', '--also-health-port', '80', '--also-health-port', '81', '--on-create', '/opt/hook.sh "a b" $HOME 100%', '--no-rules'])
  })

  it('sandboxes the daemon: network capabilities only, no new privileges, the system read-only but its state and --writable paths', () => {
    const unit = gwlb(['appliance', 'install', '--print', '--writable', '/var/log/gwlb-hooks'])
    for (const line of ['CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_BPF', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=tmpfs',
      'PrivateTmp=yes', 'RuntimeDirectory=gwlb', 'RuntimeDirectoryPreserve=yes', 'ReadWritePaths=/var/log/gwlb-hooks'])
      expect(unit.split('\n')).toContain(line)
    // Its sysctls (/proc/sys) and the TUN device stay within reach: no ProtectKernelTunables, no PrivateDevices.
    expect(unit).not.toMatch(/ProtectKernelTunables|PrivateDevices/)
    expect(execStart(unit)).not.toContain('--writable')
  })

  it('writes the unit where it is told, and enables and starts it through systemctl', () => {
    const bin = join(dir, 'bin')
    const calls = join(dir, 'systemctl.calls')
    execFileSync('mkdir', ['-p', bin])
    // systemd cannot run in this sandbox: a stand-in systemctl records how it was called.
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> ${calls}\n`, {mode: 0o755})
    const path = join(dir, 'gwlb-appliance.service')
    const out = gwlb(['appliance', 'install', '--unit-path', path, '--now', '--health-port', '9000'], {PATH: `${bin}:${process.env.PATH}`})
    expect(out).toContain(`wrote ${path}, enabled and started`)
    expect(execStart(readFileSync(path, 'utf8')).slice(2)).toEqual(['appliance', 'run', '--health-port', '9000'])
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual(['daemon-reload', 'enable --now gwlb-appliance.service'])
  })

  it('quotes only what needs quoting', () => {
    expect(systemdQuote('--mode')).toBe('--mode')
    expect(systemdQuote('a b')).toBe('"a b"')
    expect(systemdQuote('$X%')).toBe('"$$X%%"')
  })
})
