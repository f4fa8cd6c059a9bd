import {GetObjectCommand, S3Client} from '../../sdk/s3.js'
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {UserError} from '../../errors.js'
import {shortVersion} from '../../policy.js'

/**
 * An appliance's side of what the operator pushes to the deployment's bucket (the egress policy, the IDS rules):
 * the pointer names the version in force (written last); this fetches it with the instance's role, checks its
 * SHA-256 and the file itself, and has it put in force, each kind its own way. Run by a systemd timer every
 * 30 s, and once at first boot before what it feeds starts. Nothing changes when any of that fails.
 */
export interface SyncOptions {
  /** s3://BUCKET/KEY of the pointer. */
  source: string
  region: string
  /** An S3 endpoint other than AWS's (an emulator). */
  endpoint?: string
  /** The file the appliance (or its engine) reads. */
  file: string
  /** false: only the file (at first boot, before what reads it runs). */
  reload: boolean
}

export interface SyncResult {
  /** The version in the file now. */
  sha256: string
  changed: boolean
  /** What happened, in one line. */
  said: string
}

/** How one kind of pushed file is judged and put in force. */
export interface SyncKind {
  /** What the lines call it: "policy", "IDS rules". */
  what: string
  /** Nothing pushed yet: what the file must hold if there is none (the appliance needs one to start). */
  none: {text: string; said: string}
  /** Throws (one line) where the pushed file must not be put in force. */
  check(body: Buffer, key: string): Promise<void>
  /** Puts it in force: writes the file, and with `reload`, has its reader take it; says how it went. */
  apply(body: Buffer, sha256: string, reload: boolean): Promise<string>
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

export const sha256Of = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** The deployment's bucket as an appliance reaches it: its role's credentials, AWS's endpoint or the one given (an emulator). */
export const bucketClient = (region: string, endpoint?: string) => new S3Client({region, ...(endpoint ? {endpoint, forcePathStyle: true} : {})})

export async function syncStaged(o: SyncOptions, kind: SyncKind): Promise<SyncResult> {
  const {bucket, key} = parseSource(o.source)
  const s3 = bucketClient(o.region, o.endpoint)
  const get = async (k: string) => Buffer.from(await (await s3.send(new GetObjectCommand({Bucket: bucket, Key: k}))).Body!.transformToByteArray())
  const pointer = await get(key).then((b) => JSON.parse(b.toString()) as Pointer, (error: Error) => {
    if (error.name === 'NoSuchKey') return undefined
    throw new UserError(`s3://${bucket}/${key} cannot be read: ${error.message}`, `the appliance keeps the ${kind.what} it has; the next sync tries again`)
  })
  const current = await readFile(o.file).catch(() => undefined)
  if (!pointer) {
    if (current === undefined) await kind.apply(Buffer.from(kind.none.text), sha256Of(kind.none.text), false)
    return {sha256: sha256Of(current ?? kind.none.text), changed: current === undefined, said: kind.none.said}
  }
  const version = `${kind.what} ${shortVersion(pointer.sha256)}`
  if (current !== undefined && sha256Of(current) === pointer.sha256) return {sha256: pointer.sha256, changed: false, said: `${version} is in force already`}
  const body = await get(pointer.key)
  if (sha256Of(body) !== pointer.sha256)
    throw new UserError(`s3://${bucket}/${pointer.key}: SHA-256 ${sha256Of(body)} is not the pushed ${pointer.sha256}`, `nothing was changed; push the ${kind.what} again`)
  await kind.check(body, pointer.key)
  return {sha256: pointer.sha256, changed: true, said: await kind.apply(body, pointer.sha256, o.reload)}
}
