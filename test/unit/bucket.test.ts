import {DEFAULT_APPLY_OPTIONS} from '../../src/aws/deployment.js'
import {
  CreateBucketCommand, PutBucketEncryptionCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand, PutBucketTaggingCommand,
  PutPublicAccessBlockCommand, S3Client,
} from '@aws-sdk/client-s3'
import {mockClient} from 'aws-sdk-client-mock'
import {beforeEach, describe, expect, it} from 'vitest'
import {AwsClients} from '../../src/aws/clients.js'
import {withDefaults} from '../../src/aws/settings-table.js'
import type {StepContext} from '../../src/aws/step.js'
import {bucket} from '../../src/aws/steps/bucket.js'
import type {Topology} from '../../src/aws/topology.js'

const topology = {
  region: 'eu-west-1', account: '111122223333', partition: 'aws', vpcId: 'vpc-1', routeTables: [], routeAzs: new Map(), architecture: 'amd64',
  warnings: [], subnets: new Map(),
} satisfies Topology

describe('the deployment bucket, as created on AWS', () => {
  beforeEach(() => {
    delete process.env.AWS_ENDPOINT_URL
    delete process.env.AWS_ENDPOINT_URL_S3
  })

  it('is private, encrypted, tagged, owned by this account and reachable over TLS only', async () => {
    const aws = new AwsClients({region: 'eu-west-1'})
    const s3 = mockClient(S3Client)
    s3.onAnyCommand().resolves({})
    const ctx: StepContext = {aws, spec: withDefaults({name: 'egress', vpcId: 'vpc-1'}), topology, timing: {pollMs: 1, timeoutMs: 100}, options: DEFAULT_APPLY_OPTIONS, states: new Map(), progress: () => undefined}
    const made = await bucket.create(ctx, {resources: [], missing: []})

    const name = 'gwlb-egress-111122223333-eu-west-1'
    expect(made.resources).toEqual([{type: 's3-bucket', id: name, name, detail: 'private, encrypted, TLS only'}])
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input).toEqual({Bucket: name, CreateBucketConfiguration: {LocationConstraint: 'eu-west-1'}})
    const input = <T>(command: new (...a: never[]) => T) => s3.commandCalls(command as never)[0]!.args[0].input as Record<string, unknown>
    expect(input(PutPublicAccessBlockCommand)).toMatchObject({PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true}})
    expect(input(PutBucketOwnershipControlsCommand)).toMatchObject({OwnershipControls: {Rules: [{ObjectOwnership: 'BucketOwnerEnforced'}]}})
    expect(input(PutBucketEncryptionCommand)).toMatchObject({ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'AES256'}}]}})
    expect(input(PutBucketTaggingCommand)).toMatchObject({Tagging: {TagSet: [{Key: 'gwlb:deployment', Value: 'egress'}, {Key: 'Name', Value: name}]}})
    expect(JSON.parse(input(PutBucketPolicyCommand).Policy as string)).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'TlsOnly', Effect: 'Deny', Principal: '*', Action: 's3:*',
        Resource: [`arn:aws:s3:::${name}`, `arn:aws:s3:::${name}/*`], Condition: {Bool: {'aws:SecureTransport': 'false'}},
      }],
    })
    // Every call names the account that must own the bucket: a same-named bucket elsewhere is never written to.
    for (const call of s3.calls().slice(1)) expect((call.args[0].input as {ExpectedBucketOwner?: string}).ExpectedBucketOwner).toBe('111122223333')
    s3.restore()
  })
})
