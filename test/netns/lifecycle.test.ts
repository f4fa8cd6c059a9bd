import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it, vi} from 'vitest'
import {ApplianceBed, INTERNET_IP, scratchDir} from '../helpers/appliance-bed.js'
import {describeAsRoot} from '../helpers/root.js'
import {echoReply, icmpEcho} from '../helpers/packets.js'
import {payload, vectors} from '../helpers/vectors.js'

const ENI = {eni: '2b8ee1d4db0c51c4'}
const NAMES = 'gwi-5bqWvzLwwkk gwo-5bqWvzLwwkk 02b8ee1d4db0c51c4'
const ping = (seq: number) => icmpEcho({src: '10.200.0.5', dst: INTERNET_IP}, 77, seq)
const pong = (seq: number) => echoReply(77, seq)

describeAsRoot('gwlb appliance run: hooks, idle timeout, bad input, health, shutdown', () => {
  let bed: ApplianceBed
  let dir: string
  let hookLog: string
  const sysctl = (key: string) => bed.appliance.run('sysctl', '-n', key).trim()

  beforeAll(async () => {
    // Where the sandboxed appliance sees it (not in /tmp, which is its own), and may write the hooks' log.
    dir = scratchDir('gwlb-hooks-')
    hookLog = join(dir, 'hook.log')
    // A hook that records its arguments and takes a moment, as real hooks do.
    writeFileSync(join(dir, 'hook.sh'), `#!/bin/sh\nsleep 0.5\necho "$@" >> ${hookLog}\n`, {mode: 0o755})
    bed = new ApplianceBed()
    bed.writable = [dir]
    await bed.setUp()
    // Values the appliance must change and then put back.
    bed.appliance.sysctl('net.ipv4.ip_forward', 0)
    bed.appliance.sysctl('net.ipv4.conf.all.rp_filter', 1)
  })
  afterAll(async () => {
    await bed?.cleanup()
    rmSync(dir, {recursive: true, force: true})
  })

  const hookLines = () => readFileSync(hookLog, 'utf8').trim().split('\n')

  it('goes healthy only once it is bound and its rules are in place; health says only that, the report and metrics are on loopback', async () => {
    // An nft that takes a second, so that the time before the rules are in place can be seen from outside.
    const slow = join(dir, 'slow-bin')
    mkdirSync(slow)
    writeFileSync(join(slow, 'nft'), `#!/bin/sh\nsleep 1\nexec ${execFileSync('sh', ['-c', 'command -v nft'], {encoding: 'utf8'}).trim()} "$@"\n`, {mode: 0o755})
    const seen = await bed.startWith({PATH: `${slow}:${process.env.PATH}`},
      '--idle-timeout', '2', '--on-create', `${dir}/hook.sh extra-arg`, '--on-destroy', `${dir}/hook.sh`, '--health-format', 'json', '--also-health-port', '8081')
    expect(seen.filter((s) => s !== 'down')).toEqual([503, 200])
    // It runs as its unit has it: NET_ADMIN, NET_RAW, NET_BIND_SERVICE and BPF only, no way to more, the system read-only.
    const status = readFileSync(`/proc/${bed.process!.pid}/status`, 'utf8')
    expect(status).toMatch(/^CapEff:\t0000008000003400$/m)
    expect(status).toMatch(/^CapBnd:\t0000008000003400$/m)
    expect(status).toMatch(/^NoNewPrivs:\t1$/m)
    expect(readFileSync(`/proc/${bed.process!.pid}/mountinfo`, 'utf8')).toMatch(/^\S+ \S+ \S+ \S+ \/ ro,/m)
    expect(sysctl('net.ipv4.ip_forward')).toBe('1')
    expect(sysctl('net.ipv4.conf.all.rp_filter')).toBe('0')
    expect(bed.appliance.run('nft', 'list', 'table', 'inet', 'gwlb')).toMatch(/masquerade/)
    const health = await bed.health()
    expect(health.status).toBe(200)
    expect(health.headers?.connection).toBe('close')
    expect(Number(health.headers?.['content-length'])).toBe(Buffer.byteLength(health.body!))
    expect(JSON.parse(health.body!)).toEqual({status: 'ready'})
    // A health port in flight (init moving a fleet to another port): the other port answers as the health port does.
    expect(await bed.health('/', 8081)).toMatchObject({status: 200, body: health.body})
    // Counters and ENI ids are not for the whole VPC: only the host itself gets them, on the metrics port.
    expect((await bed.health('/metrics')).status).toBe(404)
    expect((await bed.health('/', 9641)).error).toMatch(/ECONNREFUSED/)
    expect(await bed.report()).toMatchObject({status: 'ready', mode: 'two-arm', tunnels: [], flows: 0})
    const metrics = await bed.metrics()
    expect(metrics).toMatch(/^gwlb_up 1$/m)
    expect(metrics).toMatch(/^# TYPE gwlb_drops_total counter$/m)
  })

  it('runs the create hook with gwlbtun\'s arguments before the first packet goes through; health answers meanwhile', async () => {
    bed.send(ENI, ping(1))
    // While the create hook runs (half a second), health still answers, and shows the tunnel being made.
    await vi.waitFor(async () => {
      expect((await bed.health()).status).toBe(200)
      expect(await bed.report()).toMatchObject({tunnels: [{ingress: 'gwi-5bqWvzLwwkk', state: 'creating'}]})
    }, {timeout: 2000, interval: 20})
    await bed.reply(pong(1))
    expect(hookLines()).toEqual([`extra-arg CREATE ${NAMES}`])
  })

  it('drops malformed datagrams by reason, creates no tunnel for them, and keeps forwarding', async () => {
    const invalid = vectors.filter((v) => !v.valid)
    for (const v of invalid) bed.sendRaw(payload(v))
    bed.send(ENI, ping(2))
    await bed.reply(pong(2))
    const report = await bed.report<{drops: Record<string, number>; tunnels: {ingress: string}[]}>()
    const {'link-local': _kernelChatter, ...drops} = report.drops
    expect(Object.values(drops).reduce((a, b) => a + b, 0)).toBe(invalid.length)
    expect(report.drops['bad-version']).toBe(2)
    expect(report.drops['unknown-critical-option']).toBe(1)
    expect(report.tunnels.map((t) => t.ingress)).toEqual(['gwi-5bqWvzLwwkk'])
    expect(await bed.metrics()).toMatch(/^gwlb_drops_total\{reason="missing-aws-option"\} 1$/m)
  })

  it('keeps a tunnel with inbound-only traffic, destroys an idle one, and re-creates it on the next packet', async () => {
    // Inbound only (to an address nobody answers), for longer than the idle timeout.
    for (let i = 0; i < 6; i++) {
      bed.send(ENI, icmpEcho({src: '10.200.0.5', dst: '198.18.0.99'}, 78, i))
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(bed.links()).toContain('gwi-5bqWvzLwwkk')
    // Idle for 2 s, then the destroy hook and the rule changes (nft is slowed to 1 s here) run.
    await vi.waitFor(() => expect(bed.links()).not.toContain('gwi-5bqWvzLwwkk'), {timeout: 10_000, interval: 200})
    expect(hookLines().at(-1)).toBe(`DESTROY ${NAMES}`)
    expect(bed.appliance.run('nft', 'list', 'table', 'inet', 'gwlb')).not.toMatch(/gwi-5bqWvzLwwkk/)
    bed.send(ENI, ping(3))
    await bed.reply(pong(3))
    expect(bed.links()).toContain('gwo-5bqWvzLwwkk')
    expect(hookLines().at(-1)).toBe(`extra-arg CREATE ${NAMES}`)
  })

  it('on SIGTERM answers 503, runs the destroy hooks, removes its table and tunnels, restores sysctls, exits 0', async () => {
    const stopped = bed.stop()
    const seen = await bed.untilHealth((s) => s === 503, 3000)
    expect(seen).toContain(503)
    expect(await stopped).toBe(0)
    expect(hookLines().at(-1)).toBe(`DESTROY ${NAMES}`)
    expect(bed.links().filter((l) => l.startsWith('gw'))).toEqual([])
    expect(() => bed.appliance.run('nft', 'list', 'table', 'inet', 'gwlb')).toThrow(/No such file or directory/)
    expect(bed.appliance.run('ip', 'rule', 'show')).not.toMatch(/lookup 26/)
    expect(sysctl('net.ipv4.ip_forward')).toBe('0')
    expect(sysctl('net.ipv4.conf.all.rp_filter')).toBe('1')
  })

  it('starts again after a restart and forwards', async () => {
    await bed.start('--health-status-only')
    expect((await bed.health()).body).toBe('')
    bed.send(ENI, ping(4))
    await bed.reply(pong(4))
  })
})
