import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {Lab, type Host} from '../helpers/netns.js'
import {describeAsRoot} from '../helpers/root.js'
import {Peer} from '../helpers/peer.js'

const cli = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

describeAsRoot('gwlb appliance run refuses bad conditions with one clear line', () => {
  const lab = new Lab()
  let host: Host
  let squatter: Peer
  beforeAll(async () => {
    host = lab.host('err')
    squatter = new Peer(host)
    await squatter.ready()
  })
  afterAll(() => {
    squatter.close()
    lab.cleanup()
  })

  /** Runs the appliance in the namespace, optionally through a wrapper (setpriv, unshare), to its exit. */
  function runAppliance(prefix: string[], ...args: string[]) {
    // HOME=/tmp: an unprivileged user may not read root's oclif data directory.
    const r = spawnSync('ip', ['netns', 'exec', host.ns, ...prefix, process.execPath, cli, 'appliance', 'run', '--health-port', '8080', ...args], {
      encoding: 'utf8',
      env: {...process.env, NO_COLOR: '1', HOME: '/tmp'},
      timeout: 20_000,
    })
    return {status: r.status, stderr: r.stderr.trim()}
  }

  const expectOneLine = (stderr: string, pattern: RegExp) => {
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toMatch(pattern)
  }

  it('not root', () => {
    // Only the right to read (the checkout may be in a folder only root can enter, as mktemp -d makes them).
    const r = runAppliance(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps', '+dac_read_search', '--ambient-caps', '+dac_read_search'])
    expect(r.status).not.toBe(0)
    expectOneLine(r.stderr, /needs root .* run it with sudo/)
  })

  it('no TUN device', () => {
    const r = runAppliance(['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh'])
    expect(r.status).not.toBe(0)
    expectOneLine(r.stderr, /\/dev\/net\/tun is missing .*modprobe tun/)
  })

  it('GENEVE port in use, leaving no rules behind', async () => {
    squatter.command({op: 'bind', id: 'squat', port: 6081})
    await squatter.next((e) => e.event === 'bound')
    const r = runAppliance([], '--mode', 'one-arm')
    expect(r.status).not.toBe(0)
    expectOneLine(r.stderr, /UDP port 6081 is already in use/)
    expect(host.run('nft', 'list', 'tables')).not.toMatch(/gwlb/)
  })

  it('two-arm without a default route or --egress-interface', () => {
    const r = runAppliance([], '--mode', 'two-arm')
    expect(r.status).not.toBe(0)
    expectOneLine(r.stderr, /two-arm mode needs an egress interface .* pass --egress-interface/)
  })

  it('an egress interface that does not exist, or has no address: never ready, no rules', () => {
    const missing = runAppliance([], '--mode', 'two-arm', '--egress-interface', 'nosuch0')
    expect(missing.status).not.toBe(0)
    expectOneLine(missing.stderr, /^Error: egress interface nosuch0 does not exist — pass --egress-interface with an interface of this host/)
    host.run('ip', 'link', 'add', 'noaddr0', 'type', 'veth', 'peer', 'name', 'noaddr1')
    host.run('ip', 'link', 'set', 'noaddr0', 'up')
    const bare = runAppliance([], '--mode', 'two-arm', '--egress-interface', 'noaddr0')
    expect(bare.status).not.toBe(0)
    expectOneLine(bare.stderr, /^Error: egress interface noaddr0 has no IPv4 address to masquerade to/)
    expect(host.run('nft', 'list', 'tables')).not.toMatch(/gwlb/)
  })

  it('health port in use', async () => {
    squatter.command({op: 'tcp-listen', port: 8080})
    await squatter.next((e) => e.event === 'listening')
    const r = runAppliance([], '--mode', 'one-arm')
    expect(r.status).not.toBe(0)
    expectOneLine(r.stderr, /health port 8080 is not free .* --health-port/)
  })
})
