import {CreateTagsCommand, DeleteTagsCommand, DescribeTransitGatewayVpcAttachmentsCommand, ModifyTransitGatewayVpcAttachmentCommand} from '../../sdk/ec2.js'
import {UserError} from '../../errors.js'
import {explainAwsError} from '../errors.js'
import {errorCode} from '../wait.js'
import type {AwsClients} from '../clients.js'
import {done, type Resource, type Step, type StepContext} from '../step.js'

/** Marks an attachment whose appliance mode this deployment turned on, so destroy turns it off again. */
export const applianceModeTagKey = (deployment: string) => `gwlb:${deployment}:appliance-mode`

async function attachments(ctx: StepContext) {
  if (ctx.spec.tgwAttachments.length === 0) return []
  const {TransitGatewayVpcAttachments = []} = await ctx.aws.ec2
    .send(new DescribeTransitGatewayVpcAttachmentsCommand({TransitGatewayAttachmentIds: ctx.spec.tgwAttachments}))
    .catch((error: unknown) => {
      // An unknown or malformed id is the operator's to fix; anything else (a denied permission…) says itself.
      if (/^InvalidTransitGatewayAttachmentID|^InvalidParameterValue/.test(errorCode(error)))
        throw new UserError(`Transit Gateway attachments ${ctx.spec.tgwAttachments.join(', ')}: ${(error as Error).message}`, 'check --tgw-attachment ids and --region')
      throw explainAwsError(error, 'ec2:DescribeTransitGatewayVpcAttachments')
    })
  for (const id of ctx.spec.tgwAttachments)
    if (!TransitGatewayVpcAttachments.some((a) => a.TransitGatewayAttachmentId === id))
      throw new UserError(`Transit Gateway VPC attachment ${id} does not exist`, 'check --tgw-attachment ids and --region')
  return TransitGatewayVpcAttachments
}

/**
 * Appliance mode on the Transit Gateway attachments that bring traffic to the inspection VPC: without it
 * the return traffic of a flow can land in another AZ, on an appliance that never saw the flow.
 */
/** The attachments whose appliance mode this deployment turned on (it did not create them). */
async function markedBy(aws: AwsClients, deployment: string): Promise<Resource[]> {
  const {TransitGatewayVpcAttachments = []} = await aws.ec2.send(new DescribeTransitGatewayVpcAttachmentsCommand({
    Filters: [{Name: 'tag-key', Values: [applianceModeTagKey(deployment)]}],
  }))
  return TransitGatewayVpcAttachments.filter((a) => a.Tags?.some((t) => t.Key === applianceModeTagKey(deployment)))
    .map((a) => ({type: 'tgw-attachment', id: a.TransitGatewayAttachmentId!, detail: 'appliance mode set by this deployment'}))
}

async function turnOff(aws: AwsClients, deployment: string, marked: Resource[]): Promise<void> {
  for (const r of marked) {
    await aws.ec2.send(new ModifyTransitGatewayVpcAttachmentCommand({TransitGatewayAttachmentId: r.id, Options: {ApplianceModeSupport: 'disable'}}))
    await aws.ec2.send(new DeleteTagsCommand({Resources: [r.id], Tags: [{Key: applianceModeTagKey(deployment)}]}))
  }
}

/** Attachments this deployment put in appliance mode that the settings no longer name. */
const dropped = async (ctx: StepContext) => (await markedBy(ctx.aws, ctx.spec.name)).filter((r) => !ctx.spec.tgwAttachments.includes(r.id))

export const transitGatewayApplianceMode: Step = {
  id: 'tgw-appliance-mode',
  title: 'Transit Gateway appliance mode',
  needs: [],
  // Also with none named: one dropped from the settings is turned off again.
  enabled: () => true,

  async find(ctx) {
    const all = await attachments(ctx)
    const on = all.filter((a) => a.Options?.ApplianceModeSupport === 'enable')
    return {
      resources: on.map((a) => ({type: 'tgw-attachment', id: a.TransitGatewayAttachmentId!, detail: 'appliance mode on'})),
      missing: [
        ...all.filter((a) => !on.includes(a)).map((a) => `appliance mode on ${a.TransitGatewayAttachmentId}`),
        ...(await dropped(ctx)).map((r) => `appliance mode off on ${r.id} (no longer asked for)`),
      ],
    }
  },

  async create(ctx) {
    for (const a of await attachments(ctx)) {
      if (a.Options?.ApplianceModeSupport === 'enable') continue
      await ctx.aws.ec2.send(new CreateTagsCommand({Resources: [a.TransitGatewayAttachmentId!], Tags: [{Key: applianceModeTagKey(ctx.spec.name), Value: 'enabled'}]}))
      await ctx.aws.ec2.send(new ModifyTransitGatewayVpcAttachmentCommand({TransitGatewayAttachmentId: a.TransitGatewayAttachmentId, Options: {ApplianceModeSupport: 'enable'}}))
    }
    await turnOff(ctx.aws, ctx.spec.name, await dropped(ctx))
    return done(ctx.spec.tgwAttachments.map((id) => ({type: 'tgw-attachment', id, detail: 'appliance mode on'})))
  },

  // Not owned whenever it was there before (anybody's endpoint, appliance mode already on): nothing to miss.
  expected: () => 0,
  owned: (scope) => markedBy(scope.aws, scope.deployment),
  remove: (scope, owned) => turnOff(scope.aws, scope.deployment, owned),
}
