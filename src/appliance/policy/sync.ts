import {GetObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {UserError} from '../../errors.js'
import {applianceHere} from '../host/state.js'
import {replaceWhole} from '../host/system.js'
import {untilInForce, type PolicyReport} from './enforce.js'
import {checkPolicy, OPEN_POLICY, problemLine, shortVersion} from '../../policy.js'

/**
 * An appliance's side of `gwlb policy push`: the deployment's bucket names the policy in force (a pointer,
 * written last), this fetches it with the instance's role, checks its SHA-256 and the policy itself, puts it in
 * place of the appliance's --policy file whole, and has the appliance put it in force (SIGHUP), waiting for its
 * word. Run by a systemd timer every 30 s, and once at first boot before the appliance starts.
 */
export interface SyncOptions {
  /** s3://BUCKET/KEY of the pointer. */
  source: string
  region: string
  /** An S3 endpoint other than AWS's (an emulator). */
  endpoint?: string
  /** The appliance's --policy file. */
  file: string
  /** false: only the file (at first boot, before the appliance runs). */
  reload: boolean
}

export interface SyncResult {
  /** The version in the file now. */
  sha256: string
  changed: boolean
  /** What happened, in one line. */
  said: string
}

interface Pointer {
  key: string
  sha256: string
}

function parseSource(source: string): {bucket: string; key: string} {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(source)
  if (!m) throw new UserError(`--source ${source} is not s3://BUCKET/KEY`, 'give the pointer init staged, e.g. s3://gwlb-egress-123456789012-us-east-1/appliance/policy/current.json', 'usage')
  return {bucket: m[1]!, key: m[2]!}
}

const sha256Of = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

export async function syncPolicy(o: SyncOptions): Promise<SyncResult> {
  const {bucket, key} = parseSource(o.source)
  const s3 = new S3Client({region: o.region, ...(o.endpoint ? {endpoint: o.endpoint, forcePathStyle: true} : {})})
  const get = async (k: string) => Buffer.from(await (await s3.send(new GetObjectCommand({Bucket: bucket, Key: k}))).Body!.transformToByteArray())
  const pointer = await get(key).then((b) => JSON.parse(b.toString()) as Pointer, (error: Error) => {
    if (error.name === 'NoSuchKey') return undefined
    throw new UserError(`s3://${bucket}/${key} cannot be read: ${error.message}`, 'the appliance keeps the policy it runs; the next sync tries again')
  })
  const current = await readFile(o.file, 'utf8').catch(() => undefined)
  if (!pointer) {
    // Nothing pushed yet: everything passes, and the file says so (the appliance needs one to start).
    if (current === undefined) await replaceWhole(o.file, OPEN_POLICY)
    return {sha256: sha256Of(current ?? OPEN_POLICY), changed: current === undefined, said: 'no policy pushed: everything passes'}
  }
  if (current !== undefined && sha256Of(current) === pointer.sha256) return {sha256: pointer.sha256, changed: false, said: `policy ${shortVersion(pointer.sha256)} is in force already`}
  const body = await get(pointer.key)
  if (sha256Of(body) !== pointer.sha256)
    throw new UserError(`s3://${bucket}/${pointer.key}: SHA-256 ${sha256Of(body)} is not the pushed ${pointer.sha256}`, 'nothing was changed; push the policy again')
  const {policy, problems} = checkPolicy(body.toString())
  if (!policy) throw new UserError(`the pushed policy does not check: ${problemLine(pointer.key, problems.find((p) => p.severity === 'error')!)}`, 'nothing was changed; push a policy that gwlb policy check accepts')
  const since = Date.now()
  await replaceWhole(o.file, body.toString())
  const appliance = o.reload ? await applianceHere() : undefined
  if (!appliance) return {sha256: pointer.sha256, changed: true, said: `policy ${shortVersion(pointer.sha256)} written to ${o.file}${o.reload ? ' (no appliance runs here: it starts with it)' : ''}`}
  process.kill(appliance.pid, 'SIGHUP')
  const outcome = await untilInForce(() => appliance.published<PolicyReport>('policy'), pointer.sha256, since)
  if (outcome === 'timeout') throw new UserError(`the appliance (pid ${appliance.pid}) did not report policy ${shortVersion(pointer.sha256)} within 15 s`, 'see its log (journalctl -u gwlb-appliance)')
  if (outcome !== 'in-force') throw new UserError(`the appliance refused policy ${shortVersion(pointer.sha256)}: ${outcome.refused}`, `it keeps policy ${shortVersion(outcome.keeps ?? '')}`)
  return {sha256: pointer.sha256, changed: true, said: `policy ${shortVersion(pointer.sha256)} in force`}
}
