import {DEFAULT_APPLY_OPTIONS} from '../../src/aws/deployment.js'
import {DescribeTransitGatewayVpcAttachmentsCommand, EC2Client, EC2ServiceException} from '@aws-sdk/client-ec2'
import {mockClient} from 'aws-sdk-client-mock'
import {afterEach, describe, expect, it} from 'vitest'
import {AwsClients} from '../../src/aws/clients.js'
import {withDefaults} from '../../src/aws/settings-table.js'
import type {StepContext} from '../../src/aws/step.js'
import {transitGatewayApplianceMode} from '../../src/aws/steps/transit-gateway.js'
import type {Topology} from '../../src/aws/topology.js'

const topology = {
  region: 'eu-west-1', account: '111122223333', partition: 'aws', vpcId: 'vpc-1', routeTables: [], routeAzs: new Map(), architecture: 'amd64',
  warnings: [], subnets: new Map(),
} satisfies Topology

const awsError = (name: string, message: string) => new EC2ServiceException({name, message, $fault: 'client', $metadata: {httpStatusCode: 400}})

describe('Transit Gateway attachments that cannot be read', () => {
  const ec2 = mockClient(EC2Client)
  afterEach(() => ec2.reset())
  const find = () => {
    const ctx: StepContext = {
      aws: new AwsClients({region: 'eu-west-1'}), spec: withDefaults({name: 'egress', vpcId: 'vpc-1', tgwAttachments: ['tgw-attach-0abc']}), topology,
      timing: {pollMs: 1, timeoutMs: 100}, options: DEFAULT_APPLY_OPTIONS, states: new Map(), progress: () => undefined,
    }
    return transitGatewayApplianceMode.find(ctx)
  }

  it('an unknown id: check the ids and the region', async () => {
    ec2.on(DescribeTransitGatewayVpcAttachmentsCommand).rejects(awsError('InvalidTransitGatewayAttachmentID.NotFound', "The transitGatewayAttachment ID 'tgw-attach-0abc' does not exist."))
    await expect(find()).rejects.toMatchObject({line: expect.stringMatching(/^Transit Gateway attachments tgw-attach-0abc: .* does not exist\. — check --tgw-attachment ids and --region$/)})
  })

  it('a denied permission: says which action, not that the id is wrong', async () => {
    ec2.on(DescribeTransitGatewayVpcAttachmentsCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'))
    await expect(find()).rejects.toMatchObject({code: 'access-denied', line: expect.stringMatching(/^Permission denied for ec2:DescribeTransitGatewayVpcAttachments: You are not authorized/)})
  })
})
