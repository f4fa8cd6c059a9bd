import {spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {gwlb, gwlbAsync} from '../helpers/cli.js'
import {FAST_HEALTH, hostLinks, LabUnderTest} from '../helpers/lab-cli.js'
import {describeAsRoot} from '../helpers/root.js'

const EGRESS = {'appliance-1': '198.18.0.101', 'appliance-2': '198.18.0.102'}
const cameFrom = (answer: string) => /you came from (\S+)/.exec(answer)?.[1]
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
/** What the internet host's /bytes/N sends. */
const pattern = (bytes: number) => Buffer.from(Array.from({length: bytes}, (_, i) => (i * 7) & 0xff))

/**
 * A download the server paces to last 10 s (paced by the client, it would sit in the client's receive buffer
 * long before the failover), from a known port, that gives up after 4 s without progress.
 */
/** BYTES at 400 kB/s from the internet host; curl gives up after 4 s without progress (exit 28). */
const longTransfer = (bytes: number) => ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--local-port', '45555',
  '--speed-limit', '1000', '--speed-time', '4', '-m', '40', `http://198.18.0.10/bytes/${bytes}?rate=400000`]

/**
 * Starts a long transfer (long enough to outlast a failure that a loaded machine takes seconds to make);
 * resolves to the appliance the stand-in gave its flow, and the transfer's end.
 */
async function startLongTransfer(lab: LabUnderTest, bytes = 12_000_000) {
  const done = lab.execAsync('client', ...longTransfer(bytes))
  await expect.poll(() => lab.status().flows.find((f) => f.srcPort === 45555 && f.bytes > 100_000), {timeout: 5000, interval: 200}).toBeTruthy()
  const target = lab.status().flows.find((f) => f.srcPort === 45555)!.target
  return {target, done}
}

/** n TCP connections from the client, one after another (each from a new port): where the internet host saw each come from. */
function connections(lab: LabUnderTest, n: number): string[] {
  const r = lab.exec('client', 'bash', '-c', `for i in $(seq ${n}); do curl -sS -m 5 http://198.18.0.10/ || exit 1; done`)
  if (r.status !== 0) throw new Error(`curl: ${r.stderr}`)
  return r.stdout.trim().split('\n').map((line) => cameFrom(line)!)
}

/**
 * The passes on other Node.js lines (scripts/test.mjs --node-lines) run what touches the runtime: the lab's
 * processes, the native module, workers and traffic. Failover and crash handling are the same JavaScript on every
 * line and run once, in the data plane lane.
 */
const onceOnly = Boolean(process.env.GWLB_TEST_NODE_LINE)
const itOnce = it.skipIf(onceOnly)

describeAsRoot('gwlb lab: a GWLB data path on one box, through the real binary', () => {
  describe('two-arm, failover no-rebalance', () => {
    const lab = new LabUnderTest('ta')
    const linksBefore = hostLinks()
    let up: ReturnType<LabUnderTest['up']>
    beforeAll(async () => {
      up = lab.up('--appliances', '2', ...FAST_HEALTH)
      if (up.status === 0) await lab.allHealthy()
    })
    afterAll(() => {
      lab.down()
    })

    it('comes up with every node and says how to use it', () => {
      expect(up.status, up.stderr).toBe(0)
      expect(up.stdout).toMatch(/The lab \w+ is up in \d+\.\d s: client, gwlb, internet, appliance-1, appliance-2\./)
      expect(up.stdout).toContain('lab exec')
    })

    it('carries curl from the client to the internet host through an appliance, NATed to its egress address', () => {
      expect(Object.values(EGRESS)).toContain(cameFrom(lab.curl()))
    })

    it('status names the addresses to send from and to, and they are the ones that carry the traffic', () => {
      const {hosts} = lab.status()
      expect(hosts).toEqual({client: {ipv4: '10.0.1.10', ipv6: 'fd00:a::10'}, internet: {ipv4: '198.18.0.10', ipv6: 'fd00:18::10'}})
      expect(lab.exec('client', 'ip', '-br', 'addr').stdout).toMatch(new RegExp(`${hosts.client.ipv4}/.*${hosts.client.ipv6}/`))
      expect(lab.cli('status').stdout).toMatch(/client 10\.0\.1\.10 \(fd00:a::10\) → internet host 198\.18\.0\.10 \(fd00:18::10\)/)
    })

    it('carries IPv6 too: the appliance NATs it to its own IPv6 egress address', () => {
      // 20 flows: all of them on one appliance by chance is 2 in a million.
      const seen = lab.exec('client', 'bash', '-c', 'for i in $(seq 20); do curl -sS -m 5 "http://[fd00:18::10]/" || exit 1; done')
      expect(new Set(seen.stdout.trim().split('\n').map(cameFrom))).toEqual(new Set(['fd00:18::101', 'fd00:18::102']))
      const udp = lab.exec('client', 'bash', '-c', 'exec 3<>/dev/udp/fd00:18::10/7; echo hello over ipv6 >&3; timeout 3 head -c 15 <&3')
      expect(udp.stdout).toBe('hello over ipv6')
      expect(lab.exec('client', 'ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', 'fd00:18::10').stdout).toMatch(/2 received/)
    })

    it('carries UDP (echo) and ICMP (ping)', () => {
      const udp = lab.exec('client', 'bash', '-c', 'exec 3<>/dev/udp/198.18.0.10/7; echo hello over geneve >&3; timeout 3 head -c 17 <&3')
      expect(udp.stdout).toBe('hello over geneve')
      expect(lab.exec('client', 'ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.0.10').stdout).toMatch(/2 received/)
    })

    it('carries a megabyte each way intact; the appliance merges runs of one flow', () => {
      const upload = Buffer.from(Array.from({length: 1 << 20}, (_, i) => (i * 13 + (i >> 12)) & 0xff))
      const file = join(tmpdir(), `gwlb-lab-upload-${process.pid}`)
      writeFileSync(file, upload)
      try {
        expect(JSON.parse(lab.curl('/', '--data-binary', `@${file}`))).toMatchObject({received: 1 << 20, sha256: sha256(upload)})
      } finally {
        rmSync(file)
      }
      const download = lab.exec('client', 'bash', '-c', 'curl -sS -m 10 http://198.18.0.10/bytes/1048576 | sha256sum')
      expect(download.stdout.split(' ')[0]).toBe(sha256(pattern(1 << 20)))
      const coalesced = (node: string) => Number(/^gwlb_coalesced_packets_total (\d+)$/m.exec(lab.exec(node, 'curl', '-s', '127.0.0.1:9641/metrics').stdout)?.[1])
      expect(coalesced('appliance-1') + coalesced('appliance-2')).toBeGreaterThan(0)
    })

    it('spreads 20 TCP connections over both appliances, by 5-tuple', () => {
      const seen = connections(lab, 20)
      expect(seen).toHaveLength(20)
      expect(new Set(seen)).toEqual(new Set(Object.values(EGRESS)))
      const status = lab.status()
      expect(status.appliances.map((a) => a.state)).toEqual(['healthy', 'healthy'])
      expect(status.appliances.every((a) => a.sent > 0 && a.received > 0)).toBe(true)
    })

    it('refuses a second up while the lab runs, and changes nothing', () => {
      const again = lab.up('--appliances', '3')
      expect(again.status).toBe(1)
      expect(again.stderr.trim()).toMatch(/^Error: the lab \w+ is up \(since .*\) — use it .*lab down/)
      expect(lab.status().appliances).toHaveLength(2)
    })

    itOnce('an existing transfer through a failed appliance breaks (its flow stays there)', async () => {
      const {target, done} = await startLongTransfer(lab)
      const fail = await lab.cliAsync('fail', target)
      expect(fail.status).toBe(0)
      // Said as it happens: what the next seconds bring, by the lab's health settings and failover.
      // (Unless the stand-in has already judged it, on a machine slow to stop it.)
      expect(fail.stdout.trim()).toMatch(new RegExp(`^${target}: data plane stopped; the GWLB stand-in has it (unhealthy\\.|healthy\\. Until 2 checks in a row fail \\(every 1 s: up to ~2 s\\) new flows still go to it and are lost; its flows stay on it and break \\(failover no-rebalance\\)\\.)$`))
      const end = await done
      expect(end.status, end.stderr).toBe(28) // curl: no progress for 4 s
      expect(Number(end.stdout.split(' ')[1])).toBeLessThan(12_000_000)
      expect(lab.cli('heal', target, '--wait').status).toBe(0)
    }, 40_000)

    itOnce('fail appliance-1: within the thresholds it is unhealthy, and new connections all go to appliance-2', async () => {
      const fail = await lab.cliAsync('fail', 'appliance-1', '--wait')
      expect(fail.status, fail.stderr).toBe(0)
      const seconds = Number(/unhealthy after (\d+\.\d) s/.exec(fail.stdout)![1])
      // Two failed checks a second apart, each given up to a second.
      expect(seconds).toBeLessThanOrEqual(4)
      expect(new Set(connections(lab, 10))).toEqual(new Set([EGRESS['appliance-2']]))
      const [one, two] = lab.status().appliances
      expect([one!.dataPlane, one!.state, two!.state]).toEqual(['stopped', 'unhealthy', 'healthy'])
      const heal = await lab.cliAsync('heal', 'appliance-1', '--wait')
      expect(heal.stdout).toMatch(/appliance-1: data plane running; healthy after \d+\.\d s/)
    }, 40_000)

    it('down leaves no namespace, process, interface or folder', () => {
      const down = lab.down()
      expect(down.stdout).toMatch(/^The lab \w+ removed: /)
      expect(lab.leftovers()).toEqual({namespaces: [], pids: [], folder: false})
      expect(hostLinks()).toEqual(linksBefore)
      expect(lab.down().stdout).toMatch(/nothing to remove/)
    })
  })

  describe('one-arm, failover rebalance, with the operator\'s hook', () => {
    const lab = new LabUnderTest('tb')
    const hooks = mkdtempSync(join(tmpdir(), 'gwlb-lab-hooks-'))
    beforeAll(async () => {
      writeFileSync(join(hooks, 'hook.sh'), `#!/bin/sh\necho "$(basename "$(readlink /proc/self/ns/net)") $*" >> ${hooks}/calls\n`, {mode: 0o755})
      const up = lab.up('--appliances', '2', '--mode', 'one-arm', '--failover', 'rebalance', ...FAST_HEALTH, '--', '--on-create', join(hooks, 'hook.sh'))
      if (up.status !== 0) throw new Error(up.stderr)
      await lab.allHealthy()
    })
    afterAll(() => {
      lab.down()
      rmSync(hooks, {recursive: true, force: true})
    })

    it('carries curl through an appliance that returns the traffic to the GWLB (the client\'s own address arrives)', () => {
      expect(cameFrom(lab.curl())).toBe('10.0.1.10')
      expect(cameFrom(lab.exec('client', 'curl', '-sS', '-m', '5', 'http://[fd00:18::10]/').stdout)).toBe('fd00:a::10')
      const download = lab.exec('client', 'bash', '-c', 'curl -sS -m 10 "http://[fd00:18::10]/bytes/1048576" | sha256sum')
      expect(download.stdout.split(' ')[0]).toBe(sha256(pattern(1 << 20)))
    })

    it('runs the flags given after -- on every appliance: the hook saw the endpoint\'s tunnel come up', () => {
      connections(lab, 10)
      // The endpoint's ENI (0x1ab0) names the tunnel pair; the hook gets its id as gwlbtun gives it (17 hex digits).
      expect(readFileSync(join(hooks, 'calls'), 'utf8')).toMatch(/^net:\[\d+\] CREATE gwi-1RQ gwo-1RQ 00000000000001ab0$/m)
    })

    itOnce('an existing transfer through a failed appliance moves to the other and completes', async () => {
      // Long enough (20 s) to outlast a failover that a loaded machine takes seconds to make.
      const {target, done} = await startLongTransfer(lab, 8_000_000)
      expect((await lab.cliAsync('fail', target)).status).toBe(0)
      const end = await done
      expect(end.status, end.stderr).toBe(0)
      expect(end.stdout).toBe('200 8000000')
      const status = lab.status()
      expect(status.standIn.rebalanced).toBeGreaterThanOrEqual(1)
      expect(status.appliances.find((a) => a.node !== target)!.flows).toBeGreaterThanOrEqual(1)
    }, 60_000)
  })

  describe.skipIf(onceOnly)('two-arm, failover rebalance', () => {
    const lab = new LabUnderTest('tc')
    afterAll(() => {
      lab.down()
    })

    // The server answers the appliance's egress address, not the GWLB: its segments still go to the failed
    // appliance. The client's next segment, through the new appliance, reaches the server from that one's
    // address and is reset (curl 56); when the client has nothing to send, the transfer stalls (curl 28).
    it('a moved flow still breaks: the server\'s side of it goes to the failed appliance\'s egress address', async () => {
      expect(lab.up('--failover', 'rebalance', ...FAST_HEALTH).status).toBe(0)
      await lab.allHealthy()
      const {target, done} = await startLongTransfer(lab)
      expect((await lab.cliAsync('fail', target)).status).toBe(0)
      const end = await done
      expect([28, 56], end.stderr).toContain(end.status)
    }, 40_000)
  })

  describe.skipIf(onceOnly)('up and down when things go wrong', () => {
    const lab = new LabUnderTest('td')
    afterAll(() => {
      lab.down()
    })

    it('bad appliance flags: up fails with the appliance\'s own error and leaves nothing', () => {
      const up = lab.up('--', '--idle-timeout', 'soon')
      expect(up.status).toBe(1)
      expect(up.stderr.trim().split('\n').at(-1)).toMatch(/^Error: appliance-1 stopped while the lab came up: .*--idle-timeout.*the lab was taken down$/)
      expect(lab.leftovers()).toEqual({namespaces: [], pids: [], folder: false})
    })

    it('Ctrl-C while it comes up takes down what was built', async () => {
      const up = await gwlbAsync(['lab', 'up', '--name', lab.name], {}, {signalAfter: /starting/})
      expect(up.status).toBe(130)
      expect(lab.leftovers()).toEqual({namespaces: [], pids: [], folder: false})
    })

    it('kill -9 of up while it builds: down removes what it left', async () => {
      const child = spawn(process.execPath, ['bin/run.js', 'lab', 'up', '--name', lab.name], {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, NO_COLOR: '1'}})
      let output = ''
      await new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => {
        output += d.toString()
        if (/starting/.test(output) && child.kill('SIGKILL')) resolve()
      }))
      await new Promise((resolve) => child.once('exit', resolve))
      expect(lab.leftovers().namespaces.length).toBeGreaterThan(0)
      expect(lab.down().status).toBe(0)
      expect(lab.leftovers()).toEqual({namespaces: [], pids: [], folder: false})
    })

    it('two ups at once: one builds the lab, the other says who holds it', async () => {
      const [a, b] = await Promise.all([0, 1].map(() => gwlbAsync(['lab', 'up', '--name', lab.name, ...FAST_HEALTH])))
      expect([a!.status, b!.status].sort()).toEqual([0, 1])
      expect([a!.stderr, b!.stderr].join('')).toMatch(/Error: (another gwlb lab command \(pid \d+\) is changing the lab|the lab \w+ is up)/)
      expect(lab.down().status).toBe(0)
    }, 40_000)

    it('what a crash left (kill -9 of every lab process) is cleaned by the next up', () => {
      expect(lab.up(...FAST_HEALTH).status).toBe(0)
      for (const pid of lab.leftovers().pids.map(Number).filter((p) => p > 0)) process.kill(pid, 'SIGKILL')
      expect(lab.cli('status').stderr).toMatch(/the lab \w+ is not up/)
      const again = lab.up(...FAST_HEALTH)
      expect(again.status, again.stderr).toBe(0)
      expect(again.stderr).toMatch(/removed what an earlier lab left behind/)
      expect(lab.curl()).toMatch(/you came from 198\.18\.0\.10[12]/)
    }, 40_000)

    it('an appliance killed with -9 shows as stopped and unhealthy; heal brings it back', async () => {
      process.kill(lab.pidOf('appliance-1'), 'SIGKILL')
      await expect.poll(() => lab.status().appliances[0]!.state, {timeout: 10_000, interval: 200}).toBe('unhealthy')
      expect(lab.status().appliances[0]!.dataPlane).toBe('stopped')
      expect(lab.cli('heal', 'appliance-1', '--wait').status).toBe(0)
      expect(new Set(connections(lab, 20))).toEqual(new Set(Object.values(EGRESS)))
    }, 40_000)

    it('not root: one line that says to use sudo', () => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps', '+dac_read_search', '--ambient-caps', '+dac_read_search',
        process.execPath, 'bin/run.js', 'lab', 'status', '--name', lab.name], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1', HOME: '/tmp'}})
      expect(r.status).toBe(1)
      expect(r.stderr.trim()).toBe('Error: gwlb lab needs root: it makes network namespaces, interfaces and routes — run it with sudo')
    })

    it('bad input: one line, non-zero, nothing made', () => {
      expect(lab.up('--appliances', '0').stderr).toMatch(/^Error: .*appliances.*/)
      expect(lab.cli('exec', 'router', '--', 'true').stderr.trim()).toMatch(/^Error: no node router in the lab \w+ — give one of client, gwlb, internet, appliance-1, appliance-2$/)
      expect(lab.cli('fail', 'appliance-7').stderr.trim()).toMatch(/^Error: appliance-7 is not an appliance of this lab — give one of appliance-1, appliance-2$/)
      expect(gwlb(['lab', 'status', '--name', 'Bad_Name']).status).toBe(2)
      expect(lab.exec('appliance-1', 'sh', '-c', 'exit 3').status).toBe(3)
    })
  })
})
