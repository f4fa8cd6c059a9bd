import {GetObjectCommand, PutObjectCommand} from '../sdk/s3.js'
import {UserError} from '../errors.js'
import type {AwsClients} from './clients.js'
import {APPLIANCE_PREFIX} from './steps/software.js'
import {bucketName, lookUp} from './steps/bucket.js'
import type {Scope} from './step.js'
import type {Checked, StagedKind} from './staged-file.js'
import {errorCode} from './wait.js'

/**
 * What the fleet syncs from the deployment's bucket, where the appliances may read (their role's only S3 right):
 * the egress policy, the IDS rules. Each version under its SHA-256, and a pointer to the one in force, written
 * last, so that an appliance never sees a version that is not whole. Every appliance looks at the pointer every
 * SYNC_SECONDS (a systemd timer, and once at first boot), checks the digest and the file, and puts it in force
 * live: no instance is replaced.
 */
export const pointerKey = (kind: StagedKind) => `${APPLIANCE_PREFIX}${kind}/current.json`
/** How often the appliances look at the pointers. */
export const SYNC_SECONDS = 30

export interface Staged {
  key: string
  sha256: string
  pushedAt: string
}

export type StagingScope = Pick<Scope, 'aws' | 'deployment' | 'region'>

/** The deployment's bucket, or a one-line error: no such deployment here. */
export async function deploymentBucket(scope: StagingScope): Promise<string> {
  const bucket = await bucketName(scope)
  const found = await lookUp(scope.aws, bucket)
  if (found?.owner !== scope.deployment)
    throw new UserError(`no deployment ${scope.deployment} in ${scope.region} (its bucket ${bucket} is ${found ? 'not its own' : 'missing'})`, 'gwlb status lists the deployments; gwlb init makes one', 'not-found')
  return bucket
}

/** What the pointer names, if a version was pushed. */
export async function stagedVersion<T extends Staged>(aws: AwsClients, bucket: string, kind: StagedKind): Promise<T | undefined> {
  const got = await aws.s3.send(new GetObjectCommand({Bucket: bucket, Key: pointerKey(kind), ExpectedBucketOwner: await aws.account()})).catch((error: unknown) => {
    if (errorCode(error) === 'NoSuchKey') return undefined
    throw error
  })
  return got ? (JSON.parse(await got.Body!.transformToString()) as T) : undefined
}

/** Stages a checked file under its digest (S3 checks the bytes against it), then points the fleet at it. */
export async function stageVersion<M extends object>(scope: StagingScope, file: Checked<M>): Promise<Staged & M> {
  const {kind, meta} = file
  const bucket = await deploymentBucket(scope)
  const ExpectedBucketOwner = await scope.aws.account()
  const key = `${APPLIANCE_PREFIX}${kind}/${file.sha256}.${file.extension}`
  await scope.aws.s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: file.body, ContentType: file.contentType, ExpectedBucketOwner,
    ChecksumSHA256: Buffer.from(file.sha256, 'hex').toString('base64'),
  }))
  const staged = {key, sha256: file.sha256, pushedAt: new Date().toISOString(), ...meta}
  await scope.aws.s3.send(new PutObjectCommand({Bucket: bucket, Key: pointerKey(kind), Body: JSON.stringify(staged), ContentType: 'application/json', ExpectedBucketOwner}))
  return staged
}
