import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Alert} from '../../src/eve.js'
import {gwlbJson} from '../helpers/cli.js'
import {FAST_HEALTH, LabUnderTest} from '../helpers/lab-cli.js'
import {describeAsRoot} from '../helpers/root.js'

const alertsOf = (lab: LabUnderTest) => gwlbJson<{alerts: Alert[]}>(['lab', 'alerts', '--name', lab.name]).alerts
const cameFrom = (answer: string) => /you came from (\S+)/.exec(answer)?.[1]

/** The appliance's own report, from its namespace. */
const inspectionOf = (lab: LabUnderTest, node: string) => {
  const r = lab.exec(node, 'curl', '-sS', 'http://127.0.0.1:9641/json')
  return (JSON.parse(r.stdout) as {inspection: {state: string; packets: number}}).inspection
}

/** Stops an appliance's engine by the PID the lab recorded, as a crash would. */
function killEngine(lab: LabUnderTest, node: string): void {
  process.kill(lab.pidOf(`${node}-suricata`), 'SIGKILL')
}

describeAsRoot('inspection: Suricata on the appliances\' hook, in gwlb lab', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gwlb-rules-test-'))
  afterAll(() => rmSync(scratch, {recursive: true, force: true}))
  describe('ids: a copy of the traffic on the monitor interface', () => {
    const lab = new LabUnderTest('ids')
    beforeAll(async () => {
      const up = await lab.upAsync('--appliances', '2', ...FAST_HEALTH, '--ids', 'suricata')
      expect(up.status, up.stderr).toBe(0)
      await lab.allHealthy()
    })
    afterAll(() => {
      lab.down()
    })

    it('a page that matches an example rule is an alert within 10 s, naming the server, the client and the appliance that carried it', async () => {
      const page = lab.exec('client', 'curl', '-sS', '-m', '5', '--local-port', '46001', 'http://198.18.0.10/id')
      expect(page.stdout).toContain('uid=0(root)')
      const carrier = lab.status().flows.find((f) => f.srcPort === 46001)!.target
      await expect.poll(() => alertsOf(lab).find((a) => a.destination === '10.0.1.10:46001'), {timeout: 10_000, interval: 500}).toMatchObject({
        appliance: carrier, signatureId: 9000001, signature: 'GWLB lab: id check returned root', source: '198.18.0.10:80', protocol: 'TCP', action: 'allowed',
      })
      expect(lab.cli('alerts').stdout).toMatch(new RegExp(`${carrier} {2}\\[9000001\\] GWLB lab: id check returned root {2}TCP 198\\.18\\.0\\.10:80 → 10\\.0\\.1\\.10:46001 {2}allowed`))
    })

    it('only a copy: the traffic itself never waits for the engine, and the appliance says its engine is attached', () => {
      expect(cameFrom(lab.curl())).toMatch(/^198\.18\.0\.10[12]$/)
      for (const node of ['appliance-1', 'appliance-2']) expect(inspectionOf(lab, node)).toMatchObject({mode: 'ids', state: 'attached', where: 'gwlb-mon'})
      expect(lab.exec('appliance-1', 'curl', '-sS', 'http://127.0.0.1:9641/metrics').stdout).toContain('gwlb_inspection{mode="ids",state="attached"} 1')
    })

    it('new rules reach the running engines live, with no restart of gwlb or the engine; a broken file changes nothing', async () => {
      // The same processes, still running: neither gwlb nor the engine restarted.
      const pids = () => ['appliance-1', 'appliance-1-suricata', 'appliance-2', 'appliance-2-suricata'].map((node) => `${lab.pidOf(node)} ${existsSync(`/proc/${lab.pidOf(node)}`)}`)
      const before = pids()
      const rules = join(scratch, 'new.rules')
      writeFileSync(rules, 'alert http any any -> any any (msg:"GWLB lab: hello page"; content:"hello from the internet"; sid:9000010; rev:1;)\n')
      const loaded = lab.cli('rules', rules)
      expect(loaded.status, loaded.stderr).toBe(0)
      expect(loaded.stdout).toMatch(/^appliance-1: reloaded in \d+\.\d s \(engine pid \d+, not restarted\)$/m)
      const seen = (port: number) => alertsOf(lab).find((a) => a.signatureId === 9000010 && a.destination === `10.0.1.10:${port}`)
      lab.exec('client', 'curl', '-sS', '-m', '5', '--local-port', '46003', 'http://198.18.0.10/')
      await expect.poll(() => seen(46003), {timeout: 10_000, interval: 500}).toBeTruthy()

      writeFileSync(rules, 'alert tcp any any -> any any (msg:"typo"; contnt:"b"; sid:3;)\n')
      const refused = lab.cli('rules', rules)
      expect(refused.status).toBe(1)
      expect(refused.stderr.trim()).toBe(`Error: ${rules}, line 1: Suricata refuses it: unknown rule keyword 'contnt'. — fix the rule, then run this again; nothing was changed`)
      lab.exec('client', 'curl', '-sS', '-m', '5', '--local-port', '46004', 'http://198.18.0.10/')
      await expect.poll(() => seen(46004), {timeout: 10_000, interval: 500}).toBeTruthy()
      expect(pids()).toEqual(before)
      expect(before.every((p) => p.endsWith(' true'))).toBe(true)
    })

    it('a rules file Suricata refuses is refused by lab up with the line, before anything is built', () => {
      const other = new LabUnderTest('idsbad')
      const file = join(scratch, 'bad.rules')
      writeFileSync(file, 'alert ip any any -> any any (msg:"fine"; content:"a"; sid:1;)\nalert tcp any any -> any any (msg:"typo"; contnt:"b"; sid:2;)\n')
      const r = other.up('--ids', 'suricata', '--ids-rules', file)
      expect(r.status).toBe(1)
      expect(r.stderr.trim()).toBe(`Error: ${file}, line 2: Suricata refuses it: unknown rule keyword 'contnt'. — fix the rule, then run this again; nothing was changed`)
      expect(other.leftovers()).toEqual({namespaces: [], pids: [], folder: false})
    })
  })

  describe('ips, failing closed: the traffic passes through the engine (NFQUEUE)', () => {
    const lab = new LabUnderTest('ips')
    beforeAll(async () => {
      // On the kernel path: its packets cross the same hook.
      const up = await lab.upAsync('--appliances', '2', ...FAST_HEALTH, '--ids', 'suricata', '--ids-mode', 'ips', '--ids-fail', 'closed', '--', '--datapath', 'bpf')
      expect(up.status, up.stderr).toBe(0)
      await lab.allHealthy()
    })
    afterAll(() => {
      lab.down()
    })

    it('a drop rule for one Host makes that request fail, while another host\'s request and a ping pass; the drop is in the alerts', async () => {
      const blocked = lab.exec('client', 'curl', '-sS', '-m', '3', '--local-port', '46002', '-H', 'Host: blocked.example', 'http://198.18.0.10/')
      expect(blocked.status).toBe(28) // curl: timed out
      expect(cameFrom(lab.curl('/', '-H', 'Host: allowed.example'))).toMatch(/^198\.18\.0\.10[12]$/)
      expect(lab.exec('client', 'ping', '-c', '1', '-W', '2', '198.18.0.10').status).toBe(0)
      await expect.poll(() => alertsOf(lab).find((a) => a.source === '10.0.1.10:46002'), {timeout: 10_000, interval: 500})
        .toMatchObject({signatureId: 9000002, signature: 'GWLB lab: blocked host', destination: '198.18.0.10:80', action: 'blocked'})
    })

    it('its engine killed, an appliance answers 503 and the stand-in moves new flows to the other', async () => {
      killEngine(lab, 'appliance-1')
      await expect.poll(() => lab.exec('appliance-1', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://10.77.0.11/').stdout, {timeout: 5000, interval: 200}).toBe('503')
      expect(lab.exec('appliance-1', 'curl', '-s', 'http://10.77.0.11/').stdout).toBe('gwlb appliance: uninspected\n')
      // Two failed checks a second apart.
      await expect.poll(() => lab.status().appliances.find((a) => a.node === 'appliance-1')!.state, {timeout: 5000, interval: 200}).toBe('unhealthy')
      const from = Array.from({length: 6}, () => cameFrom(lab.curl()))
      expect(new Set(from)).toEqual(new Set(['198.18.0.102']))
    })
  })

  describe('ips, failing open', () => {
    const lab = new LabUnderTest('ipo')
    beforeAll(async () => {
      const up = await lab.upAsync('--appliances', '1', ...FAST_HEALTH, '--ids', 'suricata', '--ids-mode', 'ips')
      expect(up.status, up.stderr).toBe(0)
      await lab.allHealthy()
    })
    afterAll(() => {
      lab.down()
    })

    it('its engine killed, traffic flows uninspected, and the appliance says so', async () => {
      expect(inspectionOf(lab, 'appliance-1').state).toBe('attached')
      killEngine(lab, 'appliance-1')
      await expect.poll(() => inspectionOf(lab, 'appliance-1').state, {timeout: 5000, interval: 200}).toBe('bypassed')
      // What the engine would have dropped now passes: nothing inspects it.
      expect(cameFrom(lab.curl('/', '-H', 'Host: blocked.example'))).toBe('198.18.0.101')
      expect(lab.exec('appliance-1', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://10.77.0.11/').stdout).toBe('200')
      expect(lab.exec('appliance-1', 'curl', '-sS', 'http://127.0.0.1:9641/metrics').stdout).toContain('gwlb_inspection{mode="ips",state="bypassed"} 1')
      expect(readFileSync(`/run/gwlb-lab/${lab.name}/appliance-1.log`, 'utf8')).toContain('inspection bypassed: no engine attached to NFQUEUE 0; traffic flows uninspected')
    })
  })
})
