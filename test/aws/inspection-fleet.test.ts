import {DescribeLogGroupsCommand, ListTagsForResourceCommand, PutRetentionPolicyCommand} from '@aws-sdk/client-cloudwatch-logs'
import {DescribeAutoScalingGroupsCommand} from '@aws-sdk/client-auto-scaling'
import {DescribeLaunchTemplateVersionsCommand} from '@aws-sdk/client-ec2'
import {GetRolePolicyCommand} from '@aws-sdk/client-iam'
import {spawnSync} from 'node:child_process'
import {GetObjectCommand} from '@aws-sdk/client-s3'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {InitResult} from '../../src/aws/deployment.js'
import type {Alert} from '../../src/eve.js'
import {eveAlerts, startShipper} from '../helpers/alert-shipper.js'
import {gwlb, gwlbAsync, gwlbJson} from '../helpers/cli.js'
import {fakeImds} from '../helpers/imds.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto()
const GROUP = '/gwlb/egress/eve'

/** The user data of the launch template's newest version. */
async function userData(aws: ReturnType<typeof clients>): Promise<string> {
  const {LaunchTemplateVersions = []} = await aws.ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
  return Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString()
}

/** A file the user data writes with cat > FILE <<'GWLB_UNIT' … GWLB_UNIT, as it writes it. */
const written = (script: string, file: string) => new RegExp(`cat > ${file.replaceAll('/', '\\/')} <<'?GWLB_UNIT'?\\n([^]*?)\\nGWLB_UNIT`).exec(script)?.[1]

describe('gwlb init --ids suricata: an IDS/IPS fleet, its alerts in CloudWatch Logs, gwlb alerts', () => {
  const aws = clients()
  let net: Network
  let dir: string

  beforeAll(async () => {
    net = await makeNetwork(aws)
    dir = mkdtempSync(join(tmpdir(), 'gwlb-ids-fleet-'))
    writeFileSync(join(dir, 'mine.rules'), 'drop http any any -> any any (msg:"mine"; http.host; content:"blocked.example"; sid:9100020; rev:1;)\n')
    writeFileSync(join(dir, 'policy.yaml'), 'version: 1\ndefault: allow\nrules:\n  - {name: no-telnet, action: deny, protocol: tcp, ports: [23]}\n')
    gwlbJson<InitResult>(['init', ...initFlags(net), '--ids', 'suricata', '--ids-mode', 'ips', '--ids-fail', 'closed', '--ids-events', 'flow,tls',
      '--ids-rules', join(dir, 'mine.rules'), '--policy', join(dir, 'policy.yaml')])
  })

  /** What a pointer of the deployment's bucket names: the version the fleet syncs. */
  const pointer = async (kind: string) => JSON.parse(await (await aws.s3.send(new GetObjectCommand({Bucket: 'gwlb-egress-123456789012-us-east-1', Key: `appliance/${kind}/current.json`}))).Body!.transformToString()) as {sha256: string; rules: number}
  const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('makes the alerts\' log group, tagged with the deployment, kept 30 days', async () => {
    const {logGroups = []} = await aws.logs.send(new DescribeLogGroupsCommand({logGroupNamePrefix: '/gwlb/egress/'}))
    expect(logGroups.map((g) => [g.logGroupName, g.retentionInDays])).toEqual([[GROUP, 30]])
    const {tags} = await aws.logs.send(new ListTagsForResourceCommand({resourceArn: logGroups[0]!.arn!.replace(/:\*$/, '')}))
    expect(tags).toEqual({'gwlb:deployment': 'egress', Name: GROUP})
  })

  it('lets the appliances write their own streams of that group, and nothing else of CloudWatch Logs', async () => {
    const {PolicyDocument} = await aws.iam.send(new GetRolePolicyCommand({RoleName: 'gwlb-egress-us-east-1', PolicyName: 'gwlb-source-dest-check'}))
    const statements = (JSON.parse(decodeURIComponent(PolicyDocument!)) as {Statement: {Sid: string; Action: string | string[]; Resource: string}[]}).Statement
    const logs = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('logs:')))
    expect(logs).toEqual([{Sid: 'ShipAlerts', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:GetLogEvents'], Resource: `arn:aws:logs:us-east-1:123456789012:log-group:${GROUP}:*`}])
  })

  it('boots appliances that run Suricata inline on one queue per CPU, fail closed, take the policy\'s domain rules, and ship alerts', async () => {
    const script = await userData(aws)
    expect(spawnSync('bash', ['-n'], {input: script}).status).toBe(0)
    expect(script).toMatch(/^gwlb appliance install --enable --now .*--inspect ips --inspect-fail closed --inspect-queues \$queues --policy-engine-rules \/etc\/gwlb\/policy\.rules --inspect-socket \/run\/suricata\/gwlb\.socket /m)
    expect(written(script, '/etc/systemd/system/gwlb-suricata.service')).toMatch(/^ExecStart=\/usr\/bin\/suricata -c \/etc\/suricata\/suricata\.yaml --include \/etc\/gwlb\/suricata\.yaml -k none .*\$\(seq 0 \$\(\(queues - 1\)\)/m)
    // Alerts, and the event types asked for (--ids-events flow,tls), logged and shipped: nothing else fills the disk.
    expect(written(script, '/etc/systemd/system/gwlb-alerts.service')).toMatch(/^ExecStart=\/usr\/local\/bin\/node \/usr\/local\/bin\/gwlb appliance ship-alerts --log-group \/gwlb\/egress\/eve --events alert,flow,tls --region us-east-1$/m)
    // Let go once drained: the data plane stopped, then the engine's last alerts shipped (a minute at most).
    expect(written(script, '/etc/systemd/system/gwlb-lifecycle.service')).toMatch(/^ExecStart=\/usr\/local\/bin\/node \/usr\/local\/bin\/gwlb appliance lifecycle --group gwlb-egress --on-terminate 'systemctl stop gwlb-appliance\.service gwlb-suricata\.service gwlb-alerts\.service; timeout 60 \/usr\/local\/bin\/node \/usr\/local\/bin\/gwlb appliance ship-alerts --log-group \/gwlb\/egress\/eve --events alert,flow,tls --region us-east-1 --drain'$/m)
    expect(written(script, '/etc/gwlb/suricata.yaml')).toMatch(/^default-log-dir: \/var\/log\/gwlb-ids\noutputs:\n {2}- eve-log:\n(.*\n)* {6}types:\n {8}- alert\n {8}- flow\n {8}- tls$/m)
    expect(script).toMatch(/^\[ -z "\$engine" \] \|\| systemctl enable --now gwlb-suricata\.service gwlb-alerts\.service gwlb-rules\.timer gwlb-ids-logs\.timer gwlb-suricata-update\.timer$/m)
    // The operator's rules (gwlb rules push): in place before the engine starts, then synced every 30 s.
    expect(script).toMatch(/^ {2}gwlb appliance rules-sync --source s3:\/\/gwlb-egress-123456789012-us-east-1\/appliance\/ids\/current\.json --region us-east-1 .*--file \/etc\/gwlb\/ids\.rules --socket \/run\/suricata\/gwlb\.socket --no-reload /m)
    expect(written(script, '/etc/systemd/system/gwlb-rules.timer')).toMatch(/^OnUnitActiveSec=30s$/m)
  })

  it('stages the rules and the policy given to init before the first boot, as rules push and policy push do', async () => {
    expect(await pointer('ids')).toMatchObject({sha256: sha256(join(dir, 'mine.rules')), rules: 1})
    expect(await pointer('policy')).toMatchObject({sha256: sha256(join(dir, 'policy.yaml')), rules: 1})
    // A re-run without them leaves what is staged in force; one with the same files has nothing to stage.
    const again = gwlbJson<InitResult>(['init', ...initFlags(net), '--ids-rules', join(dir, 'mine.rules'), '--dry-run'])
    expect(again.plan.find((e) => e.id === 'init-files')).toMatchObject({missing: []})
  })

  it('refuses a rules file Suricata would not load, and rules without an engine, before anything changes', async () => {
    writeFileSync(join(dir, 'bad.rules'), 'alert http any any -> any any (msg:"fine"; sid:9100030;)\nalert http any any -> (msg:"no ports"; sid:9100031;)\n')
    const bad = gwlb(['init', ...initFlags(net), '--ids-rules', join(dir, 'bad.rules'), '--desired-capacity', '3'])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/bad\.rules.*line 2/)
    expect(bad.stdout).not.toMatch(/desired capacity/)
    const none = gwlb(['init', ...initFlags(net, 'other'), '--ids-rules', join(dir, 'mine.rules')])
    expect([none.status, none.stderr.trim()]).toEqual([2, 'Error: --ids-rules needs an engine to run them — add --ids suricata, or leave --ids-rules out'])
    expect(await pointer('ids')).toMatchObject({sha256: sha256(join(dir, 'mine.rules'))})
  })

  it('turns the engine\'s logs over by renaming them, so the shipper finishes the old file by its inode (this machine\'s logrotate)', async () => {
    const logs = join(dir, 'logs')
    mkdirSync(logs)
    const config = written(await userData(aws), '/etc/gwlb/logrotate.conf')!.replaceAll('/var/log/gwlb-ids', logs).replace('/bin/systemctl kill -s HUP gwlb-suricata.service', `touch ${logs}/reopened`)
    writeFileSync(join(dir, 'logrotate.conf'), config)
    writeFileSync(join(logs, 'eve.json'), '{"event_type":"alert"}\n')
    const inode = statSync(join(logs, 'eve.json')).ino
    const rotate = () => spawnSync('logrotate', ['--force', '--state', join(dir, 'logrotate.state'), join(dir, 'logrotate.conf')], {encoding: 'utf8'})
    expect(rotate().stderr).toBe('')
    expect([statSync(join(logs, 'eve.json.1')).ino, existsSync(join(logs, 'reopened'))]).toEqual([inode, true])
    // Compressed a turn later, when the shipper is long done with it.
    writeFileSync(join(logs, 'eve.json'), '{"event_type":"alert"}\n')
    expect(rotate().stderr).toBe('')
    expect(readdirSync(logs).sort()).toEqual(['eve.json.1', 'eve.json.2.gz', 'reopened'])
  })

  it('writes a part of Suricata\'s configuration that Suricata itself loads (its test mode, this machine\'s Suricata)', async () => {
    const script = await userData(aws)
    // The rule files the appliance fills (ET Open, the operator's, the policy's domain rules), here with one rule each.
    const rules = ['et.rules', 'ids.rules', 'policy.rules'].map((f, i) => {
      writeFileSync(join(dir, f), `alert http any any -> any any (msg:"gwlb test ${f}"; content:"uid=0"; sid:${9_100_000 + i}; rev:1;)\n`)
      return join(dir, f)
    })
    const part = written(script, '/etc/gwlb/suricata.yaml')!.replace('/var/lib/suricata/rules/suricata.rules', rules[0]!).replace('/etc/gwlb/ids.rules', rules[1]!).replace('/etc/gwlb/policy.rules', rules[2]!)
      .replace('/run/suricata/gwlb.socket', join(dir, 'gwlb.socket'))
    writeFileSync(join(dir, 'gwlb.yaml'), part)
    const test = spawnSync('suricata', ['-T', '-v', '-c', '/etc/suricata/suricata.yaml', '--include', join(dir, 'gwlb.yaml'), '-l', dir], {encoding: 'utf8'})
    expect(test.status, test.stderr + test.stdout).toBe(0)
    expect(test.stdout + test.stderr).toMatch(/3 rules successfully loaded/)
  })

  it('gwlb alerts: every appliance\'s alerts from the group, oldest first, as lines or --json', async () => {
    const now = Date.now()
    for (const [instance, start] of [['i-0aaaaaaaaaaaaaaa1', now - 60_000], ['i-0bbbbbbbbbbbbbbb2', now - 30_000]] as const) {
      writeFileSync(join(dir, `${instance}.json`), eveAlerts(3, start))
      const shipper = startShipper({group: GROUP, stream: instance, eve: join(dir, `${instance}.json`), state: join(dir, `${instance}.state`)})
      await expect.poll(() => JSON.parse(readFileSync(join(dir, `${instance}.state`), 'utf8').toString() || '{}').shipped, {timeout: 20_000, interval: 100}).toBe(3)
      await shipper.kill('SIGTERM')
    }
    const {alerts, more} = gwlbJson<{alerts: Alert[]; more: boolean}>(['alerts', '--name', 'egress'])
    expect(more).toBe(false)
    expect(alerts.map((a) => a.appliance)).toEqual([...Array(3).fill('i-0aaaaaaaaaaaaaaa1'), ...Array(3).fill('i-0bbbbbbbbbbbbbbb2')])
    expect(alerts[0]).toMatchObject({signatureId: 2_100_498, signature: 'GPL ATTACK_RESPONSE id check returned root', protocol: 'TCP', destination: '198.18.0.10:80', action: 'allowed'})
    const text = gwlb(['alerts', '--name', 'egress', '--limit', '4'])
    expect(text.stdout.trim().split('\n')).toHaveLength(5)
    expect(text.stdout).toMatch(/^\S+ {2}i-0aaaaaaaaaaaaaaa1 {2}\[2100498\] GPL ATTACK_RESPONSE id check returned root {2}TCP 10\.0\.1\.5:\d+ → 198\.18\.0\.10:80 {2}allowed$/m)
    expect(text.stdout).toMatch(/^4 alerts in the last 1h \(the first 4: there are more; narrow --since or raise --limit\)$/m)
    expect(gwlb(['alerts', '--name', 'egress', '--since', '10s']).stdout.trim()).toBe('no alerts in the last 10s')
  })

  it('status shows the group and the last hour\'s alerts by appliance', () => {
    const r = gwlb(['status', '--name', 'egress'])
    expect(r.stdout).toMatch(/CloudWatch Logs group for the alerts: \/gwlb\/egress\/eve \(30 days\); alerts in the last hour: 6/)
    expect(r.stdout).toMatch(/i-0aaaaaaaaaaaaaaa1\s+3/)
  })

  it('each appliance\'s own report: status shows its data plane, its engine, and says what needs the operator', async () => {
    const {AutoScalingGroups = []} = await aws.autoscaling.send(new DescribeAutoScalingGroupsCommand({AutoScalingGroupNames: ['gwlb-egress']}))
    const [one, other] = AutoScalingGroups[0]!.Instances!.map((i) => i.InstanceId!)
    const imds = fakeImds(one!)
    await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve))
    try {
      writeFileSync(join(dir, 'shipper.json'), JSON.stringify({inode: 1, offset: 100, shipped: 42, at: '2026-12-04T10:00:00.000Z'}))
      writeFileSync(join(dir, 'eve.json'), 'x'.repeat(150))
      writeFileSync(join(dir, 'pushed.rules'), 'alert http any any -> any any (msg:"pushed"; content:"x"; sid:9100010; rev:1;)\n')
      // On the instance, as gwlb-report.timer runs it: its data plane is not running here, nor is its engine.
      const r = await gwlbAsync(['appliance', 'report', '--bucket', 'gwlb-egress-123456789012-us-east-1', '--region', 'us-east-1', '--metrics', 'http://127.0.0.1:1',
        '--engine-socket', join(dir, 'no.sock'), '--rules', join(dir, 'pushed.rules'), '--shipper-state', join(dir, 'shipper.json'), '--eve', join(dir, 'eve.json'), '--json'],
      {AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${(imds.address() as {port: number}).port}`})
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({instanceId: one, engine: {state: 'stopped', rules: expect.stringMatching(/^[0-9a-f]{64}$/)}, alerts: {shipped: 42, backlogBytes: 50}})
    } finally {
      imds.close()
    }
    const status = gwlb(['status', '--name', 'egress'])
    expect(status.stdout).toMatch(new RegExp(`${one}.*not answering\\s+engine stopped \\(yours [0-9a-f]{12}\\)\\s+\\d+ s ago`))
    expect(status.stdout).toMatch(new RegExp(`${other}.*no report`))
    expect(status.stdout).toContain(`${one}: its inspection engine is stopped (journalctl -u gwlb-suricata on it)`)
    const detail = gwlbJson<{deployments: {steps: {id: string; detail?: {instances: {id: string; report?: {alerts?: {shipped: number}}}[]}}[]}[]}>(['status', '--name', 'egress']).deployments[0]!
    expect(detail.steps.find((s) => s.id === 'auto-scaling-group')!.detail!.instances.find((i) => i.id === one)!.report!.alerts!.shipped).toBe(42)
  })

  it('--ids-ruleset none: the engines run your rules and the policy\'s only, and nothing fetches ET Open', async () => {
    const r = gwlb(['init', ...initFlags(net), '--ids-ruleset', 'none'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/IDS ruleset et-open → none/)
    const script = await userData(aws)
    expect(script).not.toMatch(/suricata-update/)
    expect(written(script, '/etc/gwlb/suricata.yaml')).toMatch(/^rule-files:\n {2}- \/etc\/gwlb\/ids\.rules\n {2}- \/etc\/gwlb\/policy\.rules\n/m)
    expect(script).toMatch(/^ {2}echo "gwlb bootstrap: --ids-ruleset none: the engine runs your rules and the policy's only"$/m)
  })

  it('bad input: one line and exit 2, nothing read', () => {
    const r = gwlb(['alerts', '--name', 'egress', '--since', 'yesterday'])
    expect(r.status).toBe(2)
    expect(r.stderr.trim()).toBe('Error: --since yesterday is not a period — write it like 30m, 1h or 2d')
    expect(gwlb(['init', ...initFlags(net), '--log-retention', '45']).stderr.trim()).toMatch(/^Error: --log-retention 45 is not a period CloudWatch Logs keeps logs for — give one of 1, 3, 5, 7, 14, 30, 60,/)
  })

  it('a new retention is changed in place, and status sees a retention changed behind its back', async () => {
    const r = gwlb(['init', ...initFlags(net), '--ids', 'suricata', '--ids-mode', 'ips', '--ids-fail', 'closed', '--log-retention', '90'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/log retention 30 → 90/)
    const {logGroups = []} = await aws.logs.send(new DescribeLogGroupsCommand({logGroupNamePrefix: GROUP}))
    expect(logGroups[0]!.retentionInDays).toBe(90)
    await aws.logs.send(new PutRetentionPolicyCommand({logGroupName: GROUP, retentionInDays: 7}))
    expect(gwlb(['status', '--name', 'egress']).stdout).toMatch(/drift from the settings: log retention 7 → 90 \(gwlb init --yes --name egress --region us-east-1 applies them\)/)
  })

  it('destroy --keep-logs leaves the group and its alerts; a destroy after it removes the group', () => {
    const kept = gwlbJson<{removed: {id: string}[]; kept: string[]}>(['destroy', '--name', 'egress', '--yes', '--keep-logs'])
    expect(kept.kept).toEqual(['log-group'])
    expect(kept.removed.map((s) => s.id)).not.toContain('log-group')
    expect(gwlbJson<{alerts: Alert[]}>(['alerts', '--name', 'egress', '--since', '1d']).alerts).toHaveLength(6)
    const after = gwlbJson<{removed: {id: string}[]}>(['destroy', '--name', 'egress', '--yes'])
    expect(after.removed.map((s) => s.id)).toEqual(['log-group'])
    expect(gwlb(['alerts', '--name', 'egress']).stderr.trim()).toMatch(/^Error: there is no log group \/gwlb\/egress\/eve/)
  })
})
