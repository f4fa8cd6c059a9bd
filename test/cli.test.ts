import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

const run = (...args: string[]) => execFileSync('./bin/run.js', args, {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
/** The binary as a script would run it: no terminal, with an AWS setup that needs no network to be refused. */
const attempt = (args: string[], env: Record<string, string> = {}) =>
  spawnSync('./bin/run.js', args, {encoding: 'utf8', env: {...process.env, NO_COLOR: '1', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', ...env}})

describe('the built gwlb binary', () => {
  it('prints its version', () => {
    const {version} = JSON.parse(readFileSync('package.json', 'utf8')) as {version: string}
    expect(run('--version')).toContain(`gwlb/${version}`)
    expect(run('-v')).toContain(`gwlb/${version}`)
  })

  it('prints help with usage', () => {
    expect(run('--help')).toMatch(/USAGE\s+\$ gwlb/)
  })

  it('has help as a command and -h on every command, topics spelled with spaces', () => {
    expect(run('help', 'init')).toMatch(/USAGE\s+\$ gwlb init/)
    for (const command of [['init'], ['status'], ['destroy'], ['appliance', 'run'], ['appliance', 'install']])
      expect(run(...command, '-h')).toContain(`$ gwlb ${command.join(' ')}`)
  })

  it('lists --region and --profile only on the commands that talk to AWS', () => {
    expect(run('status', '--help')).toMatch(/--region=<value>/)
    expect(run('appliance', 'run', '--help')).not.toMatch(/--region|--profile/)
    expect(run('appliance', 'install', '--help')).not.toMatch(/--region|--profile/)
  })

  it('names the help command for a mistyped command, and offers the closest one in a terminal', () => {
    const r = attempt(['stauts'])
    expect(r.status).toBe(127)
    expect(r.stderr).toContain('stauts is not a gwlb command')
    expect(r.stderr).toContain('Run gwlb help for a list of available commands')
    // script(1) gives it a terminal; the answer "n" declines the offer.
    const tty = spawnSync('script', ['-qec', './bin/run.js stauts', '/dev/null'], {encoding: 'utf8', input: 'n\r', env: {...process.env, NO_COLOR: '1'}, timeout: 20_000})
    expect(tty.stdout).toContain('Did you mean status?')
  })

  it('installs shell completion', () => {
    const r = attempt(['autocomplete', 'bash'], {XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'gwlb-autocomplete-'))})
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/Setup Instructions for GWLB CLI Autocomplete/)
  })

  it('answers bad usage with exit 2 and one line, or under --json with an error object on stdout', () => {
    const plain = attempt(['status', '--bogus'])
    expect(plain.status).toBe(2)
    expect(plain.stderr.trim()).toBe('Error: Nonexistent flag: --bogus — see gwlb status --help')
    const json = attempt(['status', '--bogus', '--json'])
    expect(json.status).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({error: {message: 'Nonexistent flag: --bogus', hint: 'see gwlb status --help', code: 'usage'}})
    expect(json.stdout.length).toBeLessThan(300)

    const route = attempt(['init', '--yes', '--route', 'rtb-1=not-a-cidr', '--json'])
    expect(route.status).toBe(2)
    expect(JSON.parse(route.stdout).error).toEqual({message: '--route rtb-1=not-a-cidr: not-a-cidr is not a CIDR block (ADDRESS/PREFIX, e.g. 10.0.0.0/16 or 2001:db8::/32)', hint: 'write it like --route rtb-0123abcd=0.0.0.0/0', code: 'usage'})
    expect(attempt(['appliance', 'run', '--mode', 'three-arm']).stderr.trim()).toBe('Error: Expected --mode=three-arm to be one of: two-arm, one-arm — see gwlb appliance run --help')
  })

  it.each([
    [['--allowed-sources', '10.0.0.1/8'], 'Error: --allowed-sources 10.0.0.1/8: 10.0.0.1/8 has host bits set: the block is 10.0.0.0/8 — write IPv4 blocks separated by commas, e.g. --allowed-sources 10.0.0.0/24,10.0.1.0/24 (or any)'],
    [['--allowed-sources', '10.0.0.0/24,2001:db8::/32'], /2001:db8::\/32 is IPv6, and the GWLB sends GENEVE over IPv4/],
    [['--metrics-listen', 'localhost'], 'Error: --metrics-listen localhost is not ADDRESS:PORT — e.g. --metrics-listen 127.0.0.1:9641, --metrics-listen [::1]:9641 or --metrics-listen off'],
    [['--egress-interface', 'eth0"; flush ruleset'], /--egress-interface .*: an interface name has 1 to 15 bytes/],
    [['--egress-interface', 'a/b'], /--egress-interface "a\/b": an interface name has no \/, :, spaces, quotes or control characters/],
    [['--max-tunnels', '300'], /Expected an integer less than or equal to 255/],
  ])('appliance run refuses %j before it changes anything', (flags, message) => {
    for (const command of [['appliance', 'run'], ['appliance', 'install', '--print']]) {
      const r = attempt([...command, ...flags])
      expect(r.status).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr.trim()).toMatch(message)
    }
  })

  it('refuses a region the SDK does not know, before calling AWS', () => {
    const r = attempt(['status', '--region', 'mars-west-9', '--json'])
    expect(r.status).toBe(2)
    expect(JSON.parse(r.stdout).error).toMatchObject({message: '"mars-west-9" is not an AWS region the SDK knows', code: 'usage'})
  })

  it('names an unreachable endpoint in one line, with what to check', () => {
    const r = attempt(['status'], {AWS_ENDPOINT_URL: 'http://127.0.0.1:9'})
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toMatch(/^Error: Cannot reach AWS for \w+:\w+ \(ECONNREFUSED at http:\/\/127\.0\.0\.1:9\) — check AWS_ENDPOINT_URL, or unset it to use AWS itself$/)
    const json = attempt(['status', '--json'], {AWS_ENDPOINT_URL: 'http://127.0.0.1:9'})
    expect(JSON.parse(json.stdout).error.code).toBe('unreachable')
  })

  it('says there are no credentials, in one line', () => {
    const r = attempt(['status'], {AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'gwlb-test-no-such-profile', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true'})
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe('Error: No AWS credentials found — set AWS_PROFILE or pass --profile, or run `aws configure` / `aws sso login`')
  })
})
