import {CreateBucketCommand, GetObjectCommand, PutBucketTaggingCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {spawn} from 'node:child_process'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, connect, type Server} from 'node:net'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {gwlb, gwlbJson} from '../helpers/cli.js'
import {ApplianceBed, METRICS, scratchDir} from '../helpers/appliance-bed.js'
import {fakeImds} from '../helpers/imds.js'
import {useMoto} from '../helpers/moto.js'
import {linkToThisHost} from '../helpers/netns.js'
import {describeAsRoot} from '../helpers/root.js'

const {clients, endpoint} = useMoto()
const BUCKET = 'gwlb-sync-123456789012-us-east-1'
const POINTER = `s3://${BUCKET}/appliance/policy/current.json`
const HOST_IP = '10.253.0.1'
const APPLIANCE_SIDE = '10.253.0.2'

const POLICY = 'version: 1\ndefault: allow\nrules:\n  - {name: no-metadata, action: deny, destinations: [169.254.169.254/32]}\n'

/**
 * An appliance's side of `gwlb policy push`: `gwlb appliance policy-sync` in the appliance's namespace, reaching
 * the AWS emulator's S3 only (through a relay on a link of its own), as the systemd timer runs it on an instance.
 */
describeAsRoot('gwlb appliance policy-sync: the fleet\'s policy, fetched, checked and put in force live', () => {
  const bed = new ApplianceBed()
  const dir = scratchDir('gwlb-policy-sync-')
  const file = join(dir, 'policy.yaml')
  let relay: Server
  let relayUrl: string
  /** The command as the timer runs it, in the appliance's namespace (not blocking this process: it serves the relay). */
  const sync = async (...more: string[]) => {
    const args = ['netns', 'exec', bed.appliance.ns, process.execPath, 'bin/run.js', 'appliance', 'policy-sync', '--source', POINTER, '--region', 'us-east-1', '--endpoint', relayUrl, '--file', file, ...more]
    const child = spawn('ip', args, {env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve))
    return {status, out: out.trim()}
  }
  const report = async () => JSON.parse((await bed.localPeer.http(`http://${METRICS}/json`)).body!) as {policy?: {sha256: string; rules: {name: string}[]}}

  beforeAll(async () => {
    linkToThisHost(bed.appliance, 'gwp', `${HOST_IP}/24`, 's3', `${APPLIANCE_SIDE}/24`)
    const moto = new URL(endpoint)
    relay = createServer((socket) => socket.pipe(connect(Number(moto.port), moto.hostname)).pipe(socket).on('error', () => socket.destroy()))
    await new Promise<void>((resolve) => relay.listen(0, HOST_IP, resolve))
    relayUrl = `http://${HOST_IP}:${(relay.address() as {port: number}).port}`
    // The deployment's bucket, as init makes it (the deployment tag is what push looks for).
    await clients().s3.send(new CreateBucketCommand({Bucket: BUCKET}))
    await clients().s3.send(new PutBucketTaggingCommand({Bucket: BUCKET, Tagging: {TagSet: [{Key: 'gwlb:deployment', Value: 'sync'}]}}))
    await bed.setUp()
  })
  afterAll(async () => {
    await bed.stop()
    bed.lab.cleanup()
    relay?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('at first boot, before anything was pushed, writes the open policy the appliance then starts with', async () => {
    expect(await sync('--no-reload')).toEqual({status: 0, out: 'no policy pushed: everything passes'})
    expect(readFileSync(file, 'utf8')).toMatch(/^# No egress policy was pushed yet: everything passes/)
    // Once, on the kernel path (the policy's table sits beside its programs): no second run on the other path.
    await bed.start('--policy', file, '--datapath', 'bpf')
    expect((await report()).policy?.rules.map((r) => r.name)).toEqual(['default'])
  })

  it('after a push, the next sync puts it in force in the running appliance and waits for its word; the one after changes nothing', async () => {
    writeFileSync(join(dir, 'pushed.yaml'), POLICY)
    const staged = gwlbJson<{sha256: string}>(['policy', 'push', '--name', 'sync', join(dir, 'pushed.yaml')])
    expect(await sync()).toEqual({status: 0, out: `policy ${staged.sha256.slice(0, 12)} in force`})
    expect((await report()).policy).toMatchObject({sha256: staged.sha256, rules: [{name: 'no-metadata'}, {name: 'default'}]})
    expect(bed.appliance.run('nft', 'list', 'set', 'inet', 'gwlb_policy', 'r0_v4')).toContain('169.254.169.254')
    expect(await sync()).toEqual({status: 0, out: `policy ${staged.sha256.slice(0, 12)} is in force already`})
  })

  it('gwlb appliance report tells status what it runs: its data plane\'s own word, the policy in force', async () => {
    const staged = gwlbJson<{sha256: string}>(['policy', 'push', '--name', 'sync', join(dir, 'pushed.yaml')])
    const imds = fakeImds('i-0123456789abcdef0')
    await new Promise<void>((resolve) => imds.listen(0, HOST_IP, resolve))
    try {
      // As gwlb-report.timer runs it on the instance (its metrics listener is the bed's).
      const args = ['netns', 'exec', bed.appliance.ns, process.execPath, 'bin/run.js', 'appliance', 'report', '--bucket', BUCKET, '--region', 'us-east-1', '--endpoint', relayUrl, '--metrics', `http://${METRICS}`]
      const child = spawn('ip', args, {env: {...process.env, NO_COLOR: '1', AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://${HOST_IP}:${(imds.address() as {port: number}).port}`}, stdio: ['ignore', 'pipe', 'pipe']})
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out += d.toString()))
      expect(await new Promise((resolve) => child.once('close', resolve)), out).toBe(0)
      expect(out.trim()).toBe('reported i-0123456789abcdef0: data plane ready')
    } finally {
      imds.close()
    }
    const got = await clients().s3.send(new GetObjectCommand({Bucket: BUCKET, Key: 'reports/i-0123456789abcdef0.json'}))
    expect(JSON.parse(await got.Body!.transformToString())).toMatchObject({instanceId: 'i-0123456789abcdef0', dataPlane: {status: 'ready', datapath: 'bpf'}, policy: {sha256: staged.sha256}})
  })

  it('bytes that are not the pushed ones change nothing: the file and what runs stay, with one line', async () => {
    const before = readFileSync(file, 'utf8')
    const staged = gwlbJson<{key: string; sha256: string}>(['policy', 'push', '--name', 'sync', join(dir, 'pushed.yaml')])
    writeFileSync(join(dir, 'other.yaml'), POLICY.replace('default: allow', 'default: deny'))
    const pushed = gwlb(['policy', 'push', '--name', 'sync', join(dir, 'other.yaml'), '--json'])
    const other = JSON.parse(pushed.stdout) as {key: string; sha256: string}
    await clients().s3.send(new PutObjectCommand({Bucket: BUCKET, Key: other.key, Body: POLICY.replace('default: allow', 'default: deny  ')}))
    const r = await sync()
    expect(r.status).toBe(1)
    expect(r.out).toMatch(new RegExp(`^Error: s3://${BUCKET}/${other.key}: SHA-256 [0-9a-f]{64} is not the pushed ${other.sha256} — nothing was changed; push the policy again$`))
    expect(readFileSync(file, 'utf8')).toBe(before)
    expect((await report()).policy?.sha256).toBe(staged.sha256)
  })
})
