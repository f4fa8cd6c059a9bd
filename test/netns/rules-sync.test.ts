import {CreateBucketCommand, PutBucketTaggingCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import type {ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {engineCommand} from '../../src/appliance/host/engine-control.js'
import {gwlb, gwlbAsync, gwlbJson} from '../helpers/cli.js'
import {fakeImds} from '../helpers/imds.js'
import {useMoto} from '../helpers/moto.js'
import {Lab} from '../helpers/netns.js'
import {describeAsRoot} from '../helpers/root.js'

const {clients, endpoint} = useMoto()
const BUCKET = 'gwlb-rules-123456789012-us-east-1'
const POINTER = `s3://${BUCKET}/appliance/ids/current.json`

const rule = (sid: number, text: string) => `alert http any any -> any any (msg:"gwlb test: ${text}"; content:"${text}"; sid:${sid}; rev:1;)\n`

/**
 * The operator's Suricata rules on the fleet: `gwlb rules push` stages them, and each appliance's
 * `gwlb appliance rules-sync` (its timer) has its own Suricata test them and reloads the running engine through
 * its control socket. Here the engine is a real Suricata in a namespace of its own, its rules file named in
 * an included configuration as the appliances' user data names it.
 */
describeAsRoot('gwlb rules push and gwlb appliance rules-sync: the fleet\'s own rules, reloaded live', () => {
  const lab = new Lab()
  const dir = mkdtempSync(join(tmpdir(), 'gwlb-rules-sync-'))
  const file = join(dir, 'ids.rules')
  const socket = join(dir, 'suricata.sock')
  let engine: ChildProcess
  const sync = (...more: string[]) => gwlbAsync(['appliance', 'rules-sync', '--source', POINTER, '--region', 'us-east-1', '--endpoint', endpoint, '--file', file, '--socket', socket, ...more])
  /** What the running engine has loaded. */
  const loaded = async () => ((await engineCommand(socket, 'ruleset-stats')).message as {rules_loaded: number}[])[0]!.rules_loaded
  const push = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return gwlbJson<{key: string; sha256: string; rules: number}>(['rules', 'push', '--name', 'rules', join(dir, name)])
  }

  beforeAll(async () => {
    await clients().s3.send(new CreateBucketCommand({Bucket: BUCKET}))
    await clients().s3.send(new PutBucketTaggingCommand({Bucket: BUCKET, Tagging: {TagSet: [{Key: 'gwlb:deployment', Value: 'rules'}]}}))
    // First boot: the file in place (none pushed: empty) before the engine starts with it.
    expect((await sync('--no-reload')).stdout.trim()).toBe('no IDS rules pushed')
    writeFileSync(join(dir, 'gwlb.yaml'), `%YAML 1.1\n---\nrule-files:\n  - ${file}\nunix-command:\n  enabled: yes\n  filename: ${socket}\n`)
    const host = lab.host('engine')
    engine = host.spawn('suricata', ['-c', '/etc/suricata/suricata.yaml', '--include', join(dir, 'gwlb.yaml'), '-l', dir, '--pidfile', join(dir, 'suricata.pid'), '--af-packet=lo'], {stdio: 'ignore'})
    // Until the engine answers on its socket with its rules loaded (none yet).
    for (const deadline = Date.now() + 45_000; !(existsSync(socket) && (await loaded().catch(() => -1)) === 0);) {
      if (Date.now() > deadline) throw new Error(`Suricata did not answer on ${socket} within 45 s`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }, 60_000)
  afterAll(async () => {
    engine?.kill('SIGTERM')
    await new Promise((resolve) => (engine?.exitCode === null ? engine.once('exit', resolve) : resolve(undefined)))
    lab.cleanup()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a push reaches the running engine at its next sync, without restarting it; the sync after changes nothing', async () => {
    const pid = engine.pid
    const staged = push('v1.rules', rule(9_200_001, 'first') + rule(9_200_002, 'second'))
    expect(staged.rules).toBe(2)
    expect((await sync()).stdout.trim()).toBe(`IDS rules ${staged.sha256.slice(0, 12)} in force`)
    expect(await loaded()).toBe(2)
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(join(dir, 'v1.rules'), 'utf8'))
    expect((await sync()).stdout.trim()).toBe(`IDS rules ${staged.sha256.slice(0, 12)} is in force already`)
    expect(engine.pid).toBe(pid)
    expect(engine.exitCode).toBeNull()
  })

  it('the appliance\'s report names its engine running, the rules it loaded and the version of the pushed ones', async () => {
    const imds = fakeImds('i-0fedcba9876543210')
    await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve))
    try {
      const r = await gwlbAsync(['appliance', 'report', '--bucket', BUCKET, '--region', 'us-east-1', '--metrics', 'http://127.0.0.1:1', '--engine-socket', socket, '--rules', file, '--json'],
        {AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${(imds.address() as {port: number}).port}`})
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).engine).toEqual({state: 'running', rulesLoaded: 2, rules: createHash('sha256').update(readFileSync(file)).digest('hex')})
    } finally {
      imds.close()
    }
  })

  it('push refuses a rules file Suricata refuses, naming its line, and stages nothing', () => {
    writeFileSync(join(dir, 'bad.rules'), rule(9_200_003, 'fine') + 'alert http any any -> any any (msg:"no sid"; content:"x";)\n')
    const r = gwlb(['rules', 'push', '--name', 'rules', join(dir, 'bad.rules')])
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toMatch(new RegExp(`^Error: ${join(dir, 'bad.rules')}, line 2: Suricata refuses it: .* — fix the rule, then run this again; nothing was changed$`))
  })

  it('a pushed file this appliance\'s Suricata refuses (staged around push\'s check) changes nothing: the engine keeps its rules', async () => {
    const bad = 'alert http any any -> any any (msg:"no sid"; content:"x";)\n'
    const sha256 = createHash('sha256').update(bad).digest('hex')
    const key = `appliance/ids/${sha256}.rules`
    await clients().s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: bad}))
    await clients().s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'appliance/ids/current.json', Body: JSON.stringify({key, sha256, pushedAt: new Date().toISOString(), rules: 1})}))
    const r = await sync()
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toMatch(/^Error: .*, line 1: Suricata refuses it: .* — fix the rule, then run this again; nothing was changed$/)
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(join(dir, 'v1.rules'), 'utf8'))
    expect(await loaded()).toBe(2)
  })

  it('without Suricata on the machine that pushes, each line\'s shape is checked and a bad one named', () => {
    writeFileSync(join(dir, 'shape.rules'), `# local rules\n${rule(9_200_004, 'ok')}\nalert http any any (msg:"half a header"; sid:9200005;)\n`)
    // A PATH with node alone on it.
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    symlinkSync(process.execPath, join(bin, 'node'))
    const r = gwlb(['rules', 'push', '--name', 'rules', join(dir, 'shape.rules')], {PATH: bin})
    expect(r.stderr.trim()).toBe(`Error: ${join(dir, 'shape.rules')}, line 4: not a Suricata rule (ACTION PROTO SRC PORT -> DST PORT (OPTIONS; sid:N;)) — fix the rule, then run this again; nothing was changed`)
  })
})
