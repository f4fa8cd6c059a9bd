import {GetObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {readFile} from 'node:fs/promises'
import {UserError} from '../errors.js'
import {loadPolicy, shortVersion} from '../policy.js'
import type {AwsClients} from './clients.js'
import {APPLIANCE_PREFIX} from './steps/software.js'
import {bucketName, lookUp} from './steps/bucket.js'
import {groupInstances} from './steps/fleet.js'
import type {Scope} from './step.js'
import {errorCode} from './wait.js'

/**
 * The fleet's egress policy, staged in the deployment's bucket where the appliances may read (their role's only
 * S3 right): each version under its SHA-256, and a pointer to the one in force. Every appliance syncs it (a
 * systemd timer runs `gwlb appliance policy-sync` every 30 s, and once at first boot), checks the digest, and
 * puts it in force live (SIGHUP): no instance is replaced.
 */
export const POLICY_POINTER = `${APPLIANCE_PREFIX}policy/current.json`
/** How often the appliances look at the pointer. */
export const POLICY_SYNC_SECONDS = 30

export interface StagedPolicy {
  key: string
  sha256: string
  pushedAt: string
  rules: number
  default: string
}

type PolicyScope = Pick<Scope, 'aws' | 'deployment' | 'region'>

/** The deployment's bucket, or a one-line error: no such deployment here. */
async function deploymentBucket(scope: PolicyScope): Promise<string> {
  const bucket = await bucketName(scope)
  const found = await lookUp(scope.aws, bucket)
  if (found?.owner !== scope.deployment)
    throw new UserError(`no deployment ${scope.deployment} in ${scope.region} (its bucket ${bucket} is ${found ? 'not its own' : 'missing'})`, 'gwlb status lists the deployments; gwlb init makes one', 'not-found')
  return bucket
}

/** What the pointer names, if a policy was pushed. */
export async function stagedPolicy(aws: AwsClients, bucket: string): Promise<StagedPolicy | undefined> {
  const got = await aws.s3.send(new GetObjectCommand({Bucket: bucket, Key: POLICY_POINTER, ExpectedBucketOwner: await aws.account()})).catch((error: unknown) => {
    if (errorCode(error) === 'NoSuchKey') return undefined
    throw error
  })
  return got ? (JSON.parse(await got.Body!.transformToString()) as StagedPolicy) : undefined
}

/**
 * Checks the file (one with an error stages nothing), stages it under its digest (S3 checks the bytes against
 * it), then points the fleet at it: the pointer is written last, so an appliance never sees a version that is
 * not whole.
 */
export async function pushPolicy(scope: PolicyScope, file: string): Promise<StagedPolicy> {
  const policy = await loadPolicy(file)
  const bucket = await deploymentBucket(scope)
  const ExpectedBucketOwner = await scope.aws.account()
  const key = `${APPLIANCE_PREFIX}policy/${policy.sha256}.yaml`
  await scope.aws.s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: await readFile(file), ContentType: 'application/yaml', ExpectedBucketOwner,
    ChecksumSHA256: Buffer.from(policy.sha256, 'hex').toString('base64'),
  }))
  const staged: StagedPolicy = {key, sha256: policy.sha256, pushedAt: new Date().toISOString(), rules: policy.rules.length, default: policy.default}
  await scope.aws.s3.send(new PutObjectCommand({Bucket: bucket, Key: POLICY_POINTER, Body: JSON.stringify(staged), ContentType: 'application/json', ExpectedBucketOwner}))
  return staged
}

export interface PolicyShow {
  staged?: StagedPolicy
  /** Each instance of the group, and the version it runs once it has synced (within POLICY_SYNC_SECONDS of the push). */
  instances: {id: string; az: string; lifecycle: string; health: string; policy?: string}[]
}

export async function showPolicy(scope: Scope): Promise<PolicyShow> {
  const staged = await stagedPolicy(scope.aws, await deploymentBucket(scope))
  const instances = (await groupInstances(scope)).map((i) => ({
    id: i.InstanceId!, az: i.AvailabilityZone ?? '', lifecycle: i.LifecycleState ?? '', health: i.HealthStatus ?? '',
    ...(staged && i.LifecycleState === 'InService' ? {policy: staged.sha256} : {}),
  }))
  return {...(staged ? {staged} : {}), instances}
}

export const versionText = (staged: StagedPolicy) => `${shortVersion(staged.sha256)} (${staged.rules} rules, default ${staged.default}, pushed ${staged.pushedAt})`
