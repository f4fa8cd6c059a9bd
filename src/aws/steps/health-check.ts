import type {IpPermission} from '@aws-sdk/client-ec2'
import {DescribeSecurityGroupsCommand, RevokeSecurityGroupIngressCommand} from '../../sdk/ec2.js'
import type {TargetGroup} from '@aws-sdk/client-elastic-load-balancing-v2'
import {DescribeTargetGroupsCommand, ModifyTargetGroupCommand} from '../../sdk/elastic-load-balancing-v2.js'
import type {DeploymentSpec} from '../spec.js'
import {differences, done, required, type StepContext} from '../step.js'
import type {Step} from '../step.js'

/** The health check the target group should make: protocol, port, path. */
export const healthCheckPairs = (tg: TargetGroup, spec: DeploymentSpec): [string, unknown, unknown][] => [
  ['health check protocol', tg.HealthCheckProtocol, spec.healthProtocol],
  ['health check port', tg.HealthCheckPort, spec.healthPort],
  ...(spec.healthProtocol === 'HTTP' ? [['health check path', tg.HealthCheckPath, '/'] as [string, unknown, unknown]] : []),
]

async function describeTargetGroup(ctx: StepContext): Promise<TargetGroup> {
  const {TargetGroups = []} = await ctx.aws.elb.send(new DescribeTargetGroupsCommand({TargetGroupArns: [required(ctx, 'target-group').id]}))
  return TargetGroups[0]!
}

/** Rules this deployment added for a health port it no longer uses (TCP, its own description). */
async function oldHealthRules(ctx: StepContext): Promise<IpPermission[]> {
  const {SecurityGroups = []} = await ctx.aws.ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [required(ctx, 'security-group').id]}))
  const mine = `gwlb ${ctx.spec.name}`
  return (SecurityGroups[0]?.IpPermissions ?? [])
    .filter((p) => p.IpProtocol === 'tcp' && p.FromPort !== ctx.spec.healthPort && p.IpRanges?.some((r) => r.Description === mine))
    .map((p) => ({IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort, IpRanges: p.IpRanges!.filter((r) => r.Description === mine)}))
}

/**
 * The target group's health check and the rules that admit it, brought to the settings once the fleet
 * answers on them: a new health port is checked only after every appliance has rolled to it (they answer
 * on the old one too meanwhile), and the old port's rules go last.
 */
export const healthCheck: Step = {
  id: 'health-check',
  title: 'Health check of the appliances',
  needs: ['target-group', 'security-group', 'auto-scaling-group'],
  enabled: () => true,

  async find(ctx) {
    const tg = ctx.states.get('target-group')?.resources[0] ? await describeTargetGroup(ctx) : undefined
    const changes = tg ? differences(healthCheckPairs(tg, ctx.spec)) : []
    const stale = ctx.states.get('security-group')?.resources[0] ? await oldHealthRules(ctx) : []
    return {resources: [], missing: [...changes, ...stale.map((p) => `revoke ingress tcp/${p.FromPort} (the old health port)`)]}
  },

  async create(ctx) {
    const tg = await describeTargetGroup(ctx)
    if (differences(healthCheckPairs(tg, ctx.spec)).length)
      await ctx.aws.elb.send(new ModifyTargetGroupCommand({
        TargetGroupArn: tg.TargetGroupArn, HealthCheckProtocol: ctx.spec.healthProtocol, HealthCheckPort: String(ctx.spec.healthPort),
        ...(ctx.spec.healthProtocol === 'HTTP' ? {HealthCheckPath: '/'} : {}),
      }))
    const stale = await oldHealthRules(ctx)
    if (stale.length) await ctx.aws.ec2.send(new RevokeSecurityGroupIngressCommand({GroupId: required(ctx, 'security-group').id, IpPermissions: stale}))
    return done([])
  },

  // Part of the target group and the security group: nothing of its own to find, count or remove.
  owned: async () => [],
  remove: async () => undefined,
  expected: () => 0,
}
