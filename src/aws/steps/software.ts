import {HeadObjectCommand, PutObjectCommand} from '../../sdk/s3.js'
import {readFile, rm} from 'node:fs/promises'
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {AwsClients} from '../clients.js'
import type {DeploymentSpec} from '../spec.js'
import {resolvePackage} from '../staging/package.js'
import {NODE_RUNTIME, runtimeTarball} from '../staging/runtime.js'
import {done, names, type Resource, type Step, type StepContext, type StepReport} from '../step.js'
import {errorCode} from '../wait.js'
import {bucketName, deleteKeys, listKeys} from './bucket.js'

/** The folder of the bucket that appliances may read (their role's only S3 right), and all that init stages. */
export const APPLIANCE_PREFIX = 'appliance/'

/** One file an appliance fetches at first boot: where it is staged and the digest it must have. */
export interface Artifact {
  key: string
  file: string
  sha256: string
  version: string
}

export interface Artifacts {
  bucket: string
  gwlb: Artifact
  node: Artifact
}

/** The gwlb installation this code runs from (same depth from src/ and dist/). */
const installation = fileURLToPath(new URL('../../..', import.meta.url))

// Packing and hashing take seconds: once per run of a spec, shared by the plan, the staging and the template.
const resolved = new WeakMap<DeploymentSpec, Promise<Artifacts>>()

export interface StagedFile {
  key: string
  version?: string
  sha256?: string
}

/** What this run stages for the appliances: the gwlb package and the pinned Node.js of their CPU. */
export function artifacts(ctx: StepContext): Promise<Artifacts> {
  let pending = resolved.get(ctx.spec)
  if (!pending) {
    pending = (async () => {
      // The package first: a bad --package is refused before the runtime (52 MB) is fetched for nothing.
      const gwlb = await resolvePackage(ctx.spec.package, installation, ctx.topology.architecture)
      const node = await runtimeTarball(ctx.topology.architecture)
      return {
        bucket: names(ctx.spec, ctx.topology.region).bucket(ctx.topology.account),
        gwlb: {key: `${APPLIANCE_PREFIX}gwlb-${gwlb.version}-${gwlb.sha256.slice(0, 16)}.tgz`, file: gwlb.file, sha256: gwlb.sha256, version: gwlb.version},
        node: {key: `${APPLIANCE_PREFIX}${node.tarball.file}`, file: node.file, sha256: node.tarball.sha256, version: NODE_RUNTIME.version},
      }
    })()
    resolved.set(ctx.spec, pending)
  }
  return pending
}

const list = (a: Artifacts) => [a.gwlb, a.node]
const describe = (a: Artifact) => `${a.key.slice(APPLIANCE_PREFIX.length)} (sha256 ${a.sha256.slice(0, 12)}…)`
const resource = (a: Artifact): Resource => ({type: 's3-object', id: a.key, name: a.key.slice(APPLIANCE_PREFIX.length), detail: `${a.version}, sha256 ${a.sha256.slice(0, 12)}`})

/** The version and digest init recorded on a staged object; undefined if there is no such object. */
async function stagedMetadata(aws: AwsClients, bucket: string, key: string): Promise<Record<string, string> | undefined> {
  const head = await aws.s3.send(new HeadObjectCommand({Bucket: bucket, Key: key, ExpectedBucketOwner: await aws.account()})).catch((error: unknown) => {
    if (errorCode(error) === 'NotFound' || errorCode(error) === 'NoSuchKey') return undefined
    throw error
  })
  return head && (head.Metadata ?? {})
}

/** Whether the bucket holds the artifact with its digest (the key names the digest, the metadata proves it). */
const isStaged = async (aws: AwsClients, bucket: string, a: Artifact) => (await stagedMetadata(aws, bucket, a.key))?.sha256 === a.sha256

/**
 * The gwlb package and the Node.js runtime the appliances install at first boot, staged in the deployment's
 * bucket: appliances fetch them from there with their own role, and from nowhere else.
 */
export const applianceSoftware: Step = {
  id: 'appliance-software',
  title: 'Appliance software (gwlb and Node.js) in the bucket',
  needs: ['bucket'],
  enabled: () => true,

  async find(ctx) {
    const staged = await artifacts(ctx)
    const bucketExists = ctx.states.get('bucket')?.resources.length
    const present = bucketExists ? await Promise.all(list(staged).map((a) => isStaged(ctx.aws, staged.bucket, a))) : [false, false]
    return {
      resources: list(staged).filter((_, i) => present[i]).map(resource),
      missing: list(staged).filter((_, i) => !present[i]).map((a) => `${describe(a)} in s3://${staged.bucket}/${APPLIANCE_PREFIX}`),
    }
  },

  async create(ctx) {
    const staged = await artifacts(ctx)
    for (const a of list(staged)) {
      if (await isStaged(ctx.aws, staged.bucket, a)) continue
      ctx.progress(`uploading ${describe(a)}`)
      // A buffer (tens of MB) rather than a stream: a streamed body goes aws-chunked, many times slower.
      await ctx.aws.s3.send(new PutObjectCommand({
        Bucket: staged.bucket, Key: a.key, Body: await readFile(a.file), ExpectedBucketOwner: ctx.topology.account,
        ContentType: 'application/gzip', Metadata: {sha256: a.sha256, version: a.version},
      }))
    }
    // A package packed for this run lives in a temporary folder of its own; the runtime stays in the cache.
    if (staged.gwlb.file !== ctx.spec.package) await rm(dirname(staged.gwlb.file), {recursive: true, force: true})
    return done(list(staged).map(resource))
  },

  async owned(scope) {
    const bucket = await bucketName(scope)
    const keys = await listKeys(scope.aws, bucket, APPLIANCE_PREFIX).catch((error: unknown) => {
      if (errorCode(error) === 'NoSuchBucket') return []
      throw error
    })
    return keys.map((o) => ({type: 's3-object', id: o.key, name: o.key.slice(APPLIANCE_PREFIX.length), detail: `${Math.round(o.size / 1e5) / 10} MB`}))
  },

  async remove(scope, owned) {
    await deleteKeys(scope.aws, await bucketName(scope), owned.map((r) => r.id))
  },

  expected: () => 2, // gwlb and Node.js
  keepsHistory: true, // earlier versions stay, for a roll back

  /** What is staged, with the version and digest init recorded for each file. */
  async report(scope, found): Promise<StepReport> {
    const bucket = await bucketName(scope)
    const staged: StagedFile[] = await Promise.all(found.map(async (o) => {
      const metadata = await stagedMetadata(scope.aws, bucket, o.id)
      return {key: o.id, version: metadata?.version, sha256: metadata?.sha256}
    }))
    return {problems: [], hints: [], detail: staged, summary: 'Staged for the appliances:', table: [['object', 'version', 'sha256'], ...staged.map((o) => [o.key, o.version ?? '', o.sha256 ?? ''])]}
  },
}
