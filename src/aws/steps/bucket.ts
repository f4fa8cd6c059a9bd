import type {BucketLocationConstraint} from '@aws-sdk/client-s3'
import {CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetBucketEncryptionCommand, GetBucketPolicyCommand, GetBucketTaggingCommand, GetPublicAccessBlockCommand, HeadBucketCommand, ListObjectsV2Command, PutBucketEncryptionCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand} from '../../sdk/s3.js'
import {UserError} from '../../errors.js'
import type {AwsClients} from '../clients.js'
import {done, names, type Scope, type Step} from '../step.js'
import {DEPLOYMENT_TAG, tags, tagValue} from '../tags.js'
import {errorCode} from '../wait.js'

/** Deny every request to the bucket that does not come over TLS. */
export const tlsOnlyPolicy = (partition: string, bucket: string) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [{
    Sid: 'TlsOnly',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [`arn:${partition}:s3:::${bucket}`, `arn:${partition}:s3:::${bucket}/*`],
    Condition: {Bool: {'aws:SecureTransport': 'false'}},
  }],
})

const absent = (error: unknown) => ['NotFound', 'NoSuchBucket', 'NoSuchTagSet', 'NoSuchBucketPolicy', 'NoSuchPublicAccessBlockConfiguration',
  'ServerSideEncryptionConfigurationNotFoundError'].includes(errorCode(error))
const orUndefined = (error: unknown) => {
  if (absent(error)) return undefined
  throw error
}

/** The deployment's bucket if it exists in this account, with its deployment tag (undefined: untagged). */
export async function lookUp(aws: AwsClients, bucket: string): Promise<{owner?: string} | undefined> {
  const ExpectedBucketOwner = await aws.account()
  const head = await aws.s3.send(new HeadBucketCommand({Bucket: bucket, ExpectedBucketOwner})).catch((error: unknown) => {
    if (absent(error)) return undefined
    // 403: the name is taken by another account (bucket names are global).
    if (errorCode(error) === 'Forbidden' || (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode === 403)
      throw new UserError(`S3 bucket ${bucket} belongs to another account`, 'choose another --name')
    throw error
  })
  if (!head) return undefined
  const tagging = await aws.s3.send(new GetBucketTaggingCommand({Bucket: bucket, ExpectedBucketOwner})).catch(orUndefined)
  return {owner: tagValue(tagging?.TagSet, DEPLOYMENT_TAG)}
}

/**
 * A TLS-only policy locks out whoever talks to the bucket over plain HTTP: only an emulator's endpoint does
 * (AWS_ENDPOINT_URL=http://…), and there the tool would lock itself out of its own bucket.
 */
const tlsOnly = (aws: AwsClients) => !aws.s3Endpoint?.startsWith('http:')
const bucketDetail = (aws: AwsClients) => (tlsOnly(aws) ? 'private, encrypted, TLS only' : 'private, encrypted; no TLS-only policy: the S3 endpoint is plain HTTP')

/** What of the bucket's protection is not in place (words for the plan). */
async function unprotected(aws: AwsClients, bucket: string): Promise<string[]> {
  const ExpectedBucketOwner = await aws.account()
  const [block, encryption, policy] = await Promise.all([
    aws.s3.send(new GetPublicAccessBlockCommand({Bucket: bucket, ExpectedBucketOwner})).catch(orUndefined),
    aws.s3.send(new GetBucketEncryptionCommand({Bucket: bucket, ExpectedBucketOwner})).catch(orUndefined),
    aws.s3.send(new GetBucketPolicyCommand({Bucket: bucket, ExpectedBucketOwner})).catch(orUndefined),
  ])
  const c = block?.PublicAccessBlockConfiguration
  return [
    ...(c?.BlockPublicAcls && c.BlockPublicPolicy && c.IgnorePublicAcls && c.RestrictPublicBuckets ? [] : ['Block Public Access on']),
    ...(encryption?.ServerSideEncryptionConfiguration?.Rules?.length ? [] : ['default encryption']),
    ...(policy?.Policy?.includes('aws:SecureTransport') || !tlsOnly(aws) ? [] : ['TLS-only bucket policy']),
  ]
}

/** Every object in the bucket under `prefix`, page by page. */
export async function listKeys(aws: AwsClients, bucket: string, prefix?: string): Promise<{key: string; size: number}[]> {
  const keys: {key: string; size: number}[] = []
  let token: string | undefined
  do {
    const page = await aws.s3.send(new ListObjectsV2Command({Bucket: bucket, Prefix: prefix, ContinuationToken: token, ExpectedBucketOwner: await aws.account()}))
    keys.push(...(page.Contents ?? []).map((o) => ({key: o.Key!, size: o.Size ?? 0})))
    token = page.NextContinuationToken
  } while (token)
  return keys
}

export async function deleteKeys(aws: AwsClients, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000)
    await aws.s3.send(new DeleteObjectsCommand({Bucket: bucket, Delete: {Objects: keys.slice(i, i + 1000).map((Key) => ({Key}))}, ExpectedBucketOwner: await aws.account()}))
}

export const bucketName = async (scope: {aws: AwsClients; deployment: string; region: string}) =>
  names({name: scope.deployment}, scope.region).bucket(await scope.aws.account())

/**
 * The deployment's own S3 bucket, where init stages what the appliances run: private (Block Public Access,
 * bucket-owner-enforced ownership), encrypted at rest, reachable over TLS only, tagged with the deployment.
 */
export const bucket: Step = {
  id: 'bucket',
  title: 'S3 bucket for the appliance software',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).bucket(ctx.topology.account)
    const found = await lookUp(ctx.aws, name)
    if (!found) return {resources: [], missing: [`bucket ${name} (${bucketDetail(ctx.aws)})`]}
    // Made, then interrupted before its tags: the name (deployment, account, region) is this deployment's alone.
    if (!found.owner) return {resources: [], missing: [`bucket ${name}: left untagged by an interrupted run, to tag and protect`]}
    if (found.owner !== ctx.spec.name) throw new UserError(`S3 bucket ${name} exists and is not part of deployment ${ctx.spec.name}`, 'choose another --name')
    return {resources: [{type: 's3-bucket', id: name, name, detail: bucketDetail(ctx.aws)}], missing: await unprotected(ctx.aws, name)}
  },

  async create(ctx, found) {
    const {region, partition, account} = ctx.topology
    const name = names(ctx.spec, region).bucket(account)
    if (found.resources.length === 0) {
      await ctx.aws.s3.send(new CreateBucketCommand({
        Bucket: name,
        ...(region === 'us-east-1' ? {} : {CreateBucketConfiguration: {LocationConstraint: region as BucketLocationConstraint}}),
      })).catch((error: unknown) => {
        // Created by an interrupted earlier run: carry on with it.
        if (errorCode(error) !== 'BucketAlreadyOwnedByYou') throw error
      })
      await ctx.aws.s3.send(new PutBucketTaggingCommand({Bucket: name, Tagging: {TagSet: tags(ctx.spec.name, name)}, ExpectedBucketOwner: account}))
    }
    await ctx.aws.s3.send(new PutPublicAccessBlockCommand({
      Bucket: name, ExpectedBucketOwner: account,
      PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true},
    }))
    await ctx.aws.s3.send(new PutBucketOwnershipControlsCommand({Bucket: name, ExpectedBucketOwner: account, OwnershipControls: {Rules: [{ObjectOwnership: 'BucketOwnerEnforced'}]}}))
    await ctx.aws.s3.send(new PutBucketEncryptionCommand({
      Bucket: name, ExpectedBucketOwner: account,
      ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'AES256'}, BucketKeyEnabled: true}]},
    }))
    if (tlsOnly(ctx.aws)) await ctx.aws.s3.send(new PutBucketPolicyCommand({Bucket: name, Policy: tlsOnlyPolicy(partition, name), ExpectedBucketOwner: account}))
    return done([{type: 's3-bucket', id: name, name, detail: bucketDetail(ctx.aws)}])
  },

  async owned(scope: Scope) {
    const name = await bucketName(scope)
    const found = await lookUp(scope.aws, name)
    return found && (found.owner ?? scope.deployment) === scope.deployment ? [{type: 's3-bucket', id: name, name}] : []
  },

  /** Empties the bucket (whatever is in it was staged by init) and deletes it. */
  async remove(scope, owned) {
    for (const r of owned) {
      await deleteKeys(scope.aws, r.id, (await listKeys(scope.aws, r.id)).map((o) => o.key))
      await scope.aws.s3.send(new DeleteBucketCommand({Bucket: r.id, ExpectedBucketOwner: await scope.aws.account()})).catch((error: unknown) => {
        if (!absent(error)) throw error
      })
    }
  },
}
