import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {PolicyPushResult} from '../../src/lab/lab.js'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {FAST_HEALTH, INTERNET, LabUnderTest} from '../helpers/lab-cli.js'
import {describeAsRoot} from '../helpers/root.js'

const INTERNET6 = 'fd00:18::10'

/** Web to the internet host's IPv4 address and ping pass; the rest (UDP echo, the host's IPv6 address) is denied. */
const WEB_ONLY = `version: 1
default: deny
rules:
  - name: web
    action: allow
    destinations: [${INTERNET}/32]
    protocol: tcp
    ports: [80]
  - name: ping
    action: allow
    protocol: icmp
`

/** Names: one domain and every name under it but one, judged by the engine (Suricata, ips) on the ClientHello's SNI and the Host header. */
const DOMAINS = `version: 1
default: deny
rules:
  - {name: ping, action: allow, protocol: icmp}
  - {name: evil, action: deny, domains: [evil.example.test]}
  - {name: example, action: allow, domains: [.example.test]}
`

/** The same, and UDP echo too: a change that keeps every flow the first one allows. */
const WEB_AND_ECHO = `${WEB_ONLY}  - name: echo
    action: allow
    protocol: udp
    ports: [7]
`

describeAsRoot('egress policy: gwlb lab policy push, enforced by every appliance\'s nftables', () => {
  const lab = new LabUnderTest('pol')
  const scratch = mkdtempSync(join(tmpdir(), 'gwlb-policy-test-'))
  const file = (name: string, text: string) => {
    writeFileSync(join(scratch, name), text)
    return join(scratch, name)
  }
  const push = (path: string) => gwlbJson<PolicyPushResult>(['lab', 'policy', 'push', '--name', lab.name, path])
  const pushed = (path: string) => gwlb(['lab', 'policy', 'push', '--name', lab.name, path])
  const echo = () => lab.exec('client', 'bash', '-c', `exec 3<>/dev/udp/${INTERNET}/7; echo hello >&3; timeout 1 head -c 5 <&3`)
  /** Each rule's counters, summed over the appliances, once both have read them after `since`. */
  const counters = async (want: (c: Record<string, {flows: number; packets: number}>) => boolean) => {
    let last: Record<string, {flows: number; packets: number}> = {}
    for (const deadline = Date.now() + 6000; Date.now() < deadline; await sleep(250)) {
      last = {}
      for (const a of lab.status().appliances)
        for (const r of a.policy?.rules ?? []) {
          const c = (last[r.name] ??= {flows: 0, packets: 0})
          c.flows += r.flows
          c.packets += r.packets
        }
      if (want(last)) return last
    }
    return last
  }

  beforeAll(async () => {
    const up = await lab.upAsync('--appliances', '2', ...FAST_HEALTH, '--policy', file('web-only.yaml', WEB_ONLY))
    expect(up.status, up.stderr).toBe(0)
    await lab.allHealthy()
  })
  afterAll(() => {
    lab.down()
    rmSync(scratch, {recursive: true, force: true})
  })

  it('up --policy: every appliance runs it before its first packet; web and ping pass, UDP and the unlisted IPv6 address do not', async () => {
    const version = lab.status().appliances.map((a) => a.policy?.sha256)
    expect(new Set(version).size).toBe(1)
    for (let i = 0; i < 4; i++) expect(lab.curl('/')).toMatch(/hello from the internet/)
    expect(lab.exec('client', 'ping', '-c', '2', '-i', '0.2', '-W', '2', INTERNET).stdout).toMatch(/2 received/)
    expect(echo().status).not.toBe(0)
    expect(lab.exec('client', 'curl', '-sS', '-m', '2', `http://[${INTERNET6}]/`).status).not.toBe(0)
    // Counted per flow by its first packet: 4 page loads are 4 web flows; the IPv6 connection and the echo hit the default.
    const c = await counters((c) => c.web?.flows === 4 && (c.default?.flows ?? 0) >= 2)
    expect(c.web!.flows).toBe(4)
    expect(c.ping!.flows).toBeGreaterThanOrEqual(1)
    expect(c.default!.packets).toBeGreaterThanOrEqual(2)
  })

  it('a push changes the policy live on every appliance; an upload running through it loses no packet and arrives intact', async () => {
    const payload = Buffer.from(Array.from({length: 600_000}, (_, i) => (i * 7) % 251))
    writeFileSync(join(scratch, 'upload.bin'), payload)
    // The upload's packets go the flow's original direction, the one the rules judge (replies always pass). A
    // segment lost on the way is recovered by one of these (a tail loss probe alone, TLP, is no loss: it answers a
    // late ACK, and it is not counted here).
    const LOSS = ['TcpExtTCPFastRetrans', 'TcpExtTCPTimeouts', 'TcpExtTCPLossProbeRecovery']
    const recoveries = () => [...lab.exec('client', 'nstat', '-asz', ...LOSS).stdout.matchAll(/^\S+\s+(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
    const before = recoveries()
    const upload = lab.execAsync('client', 'curl', '-sS', '-m', '20', '--limit-rate', '200k', '--data-binary', `@${join(scratch, 'upload.bin')}`, `http://${INTERNET}/`)
    await sleep(1000)
    const result = push(file('web-and-echo.yaml', WEB_AND_ECHO))
    expect(result.appliances.map((a) => a.appliance).sort()).toEqual(['appliance-1', 'appliance-2'])
    expect(new Set(lab.status().appliances.map((a) => a.policy?.sha256))).toEqual(new Set([result.sha256]))
    const done = await upload
    expect(done.status, done.stderr).toBe(0)
    expect(JSON.parse(done.stdout)).toMatchObject({received: 600_000, sha256: createHash('sha256').update(payload).digest('hex')})
    expect(recoveries()).toBe(before)
    expect(echo().stdout).toBe('hello')
  })

  it('a file with an error changes nothing anywhere: one line with its path, exit 1, every appliance keeps its version', () => {
    const running = lab.status().appliances.map((a) => a.policy?.sha256)
    const r = pushed(file('bad.yaml', `${WEB_ONLY}  - name: feed\n    action: deny\n    destinations: [203.0.113.7/24]\n`))
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toMatch(/^Error: .*bad\.yaml:14: rules\[2\]\.destinations\[0\]: 203\.0\.113\.7\/24 has host bits set: the block is 203\.0\.113\.0\/24 — gwlb policy check \S+ lists every problem; nothing was changed$/)
    expect(lab.status().appliances.map((a) => a.policy?.sha256)).toEqual(running)
  })

  it('domain rules need an engine that holds the traffic: each appliance refuses them, keeps its policy, and push names it', () => {
    const running = lab.status().appliances.map((a) => a.policy?.sha256)
    const r = pushed(file('domains.yaml', DOMAINS))
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^Error: appliance-\d refused policy \w{12}: domain rules are judged by the inspection engine: run with --inspect ips --inspect-fail closed/)
    expect(lab.status().appliances.map((a) => a.policy?.sha256)).toEqual(running)
    expect(lab.status().appliances.every((a) => a.policy?.refused)).toBe(true)
  })

  it('a 10,000-block deny list is put in force by every appliance; what it lists is denied, the rest still passes', () => {
    const blocks = Array.from({length: 10_000}, (_, i) => `100.${64 + (i >> 8)}.${i & 255}.0/24`)
    const feed = `${WEB_AND_ECHO}  - name: feed\n    action: deny\n    destinations: [${[...blocks, '198.18.0.0/15'].join(', ')}]\n`
    // The feed comes last: before it, web and echo to the internet host are allowed; ping is not (now denied by the feed).
    const result = push(file('feed.yaml', feed.replace('  - name: ping\n    action: allow\n    protocol: icmp\n', '')))
    expect(result.appliances).toHaveLength(2)
    expect(lab.curl('/')).toMatch(/hello from the internet/)
    expect(lab.exec('client', 'ping', '-c', '1', '-W', '1', INTERNET).status).not.toBe(0)
    const log = readFileSync(`/run/gwlb-lab/${lab.name}/appliance-1.log`, 'utf8')
    expect(log).toMatch(/policy \w{12} in force: 3 rules \(10002 destination blocks\), default deny, applied in \d+ ms/)
  })

  it('an appliance killed -9 leaves its policy table; the next start removes it and puts the lab\'s policy in force again', async () => {
    const version = lab.status().appliances[0]!.policy!.sha256
    process.kill(lab.pidOf('appliance-1'), 'SIGKILL')
    await sleep(300)
    expect(lab.exec('appliance-1', 'nft', 'list', 'tables').stdout).toContain('table inet gwlb_policy')
    const heal = await lab.cliAsync('heal', 'appliance-1', '--wait')
    expect(heal.status, heal.stderr).toBe(0)
    expect(readFileSync(`/run/gwlb-lab/${lab.name}/appliance-1.log`, 'utf8')).toMatch(/removed what a previous run left: .*table inet gwlb_policy/)
    expect(lab.status().appliances[0]!.policy!.sha256).toBe(version)
    expect(lab.curl('/')).toMatch(/hello from the internet/)
  })

  describe('domain rules, judged by Suricata in ips mode on every appliance', () => {
    const ips = new LabUnderTest('dom')
    /** The status code of a request from the client, 0 when it failed (curl's 000). */
    const code = (...args: string[]) => Number(ips.exec('client', 'curl', '-sS', '-k', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', ...args).stdout)
    const https = (name: string) => code('--resolve', `${name}:443:${INTERNET}`, `https://${name}/`)
    beforeAll(async () => {
      const up = await ips.upAsync('--appliances', '2', ...FAST_HEALTH, '--ids', 'suricata', '--ids-mode', 'ips', '--ids-fail', 'closed', '--policy', file('domains.yaml', DOMAINS))
      expect(up.status, up.stderr).toBe(0)
      await ips.allHealthy()
    })
    afterAll(() => {
      ips.down()
    })

    it('TLS by its SNI: the domain and the names under it pass, but the one denied before them, and other names, fail in one attempt', () => {
      expect([https('www.example.test'), https('example.test'), https('api.v2.example.test')]).toEqual([200, 200, 200])
      expect([https('evil.example.test'), https('other.test'), https('example.test.other.test')]).toEqual([0, 0, 0])
    })

    it('HTTP by its Host header, the same; TLS without a name (to an address) is unknown, denied; ping follows its own rule', () => {
      expect(code('-H', 'Host: www.example.test', `http://${INTERNET}/`)).toBe(200)
      expect(code('-H', 'Host: other.test', `http://${INTERNET}/`)).toBe(0)
      expect(code(`https://${INTERNET}/`)).toBe(0)
      expect(ips.exec('client', 'ping', '-c', '1', '-W', '2', INTERNET).status).toBe(0)
    })

    it('every denial is an alert of the engine naming the policy rule that made it', async () => {
      let said: string[] = []
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(500)) {
        said = gwlbJson<{alerts: {signature: string; action: string}[]}>(['lab', 'alerts', '--name', ips.name]).alerts.map((a) => `${a.signature} ${a.action}`)
        if (said.length >= 5) break
      }
      expect(said.filter((s) => s === 'gwlb policy: evil blocked')).toHaveLength(1)
      expect(said.filter((s) => s === 'gwlb policy: default blocked')).toHaveLength(3)
      expect(said).toContain('gwlb policy: unknown (TLS without SNI) blocked')
    })
  })
})
