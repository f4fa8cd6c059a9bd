import type {IpPermission} from '@aws-sdk/client-ec2'
import {AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, RevokeSecurityGroupIngressCommand} from '../../sdk/ec2.js'
import {done, initCommand, names, plainReport, remember, subnetsRemembered, unlessNotFound, type Scope, type Step, type StepContext} from '../step.js'
import {errorCode, retrying} from '../wait.js'
import {DEPLOYMENT_TAG, deploymentFilter, tagSpecifications, tagValue} from '../tags.js'
import {GENEVE_PORT} from '../../generated/abi.js'

interface Rule {
  protocol: string
  port: number
  cidr: string
}

/**
 * Where GENEVE and health checks come from: the GWLB's own interfaces, which live in the appliance subnets
 * (one per AZ; with cross-zone load balancing a node sends to appliances of every AZ). The appliances are
 * told the same blocks (--allowed-sources), and drop GENEVE from anywhere else.
 */
export const gwlbSourceCidrs = (ctx: StepContext) => ctx.spec.applianceSubnets.map((id) => ctx.topology.subnets.get(id)!.cidr)

const rulesFor = (cidrs: string[], healthPort: number): Rule[] =>
  cidrs.flatMap((cidr) => [{protocol: 'udp', port: GENEVE_PORT, cidr}, {protocol: 'tcp', port: healthPort, cidr}])

const wanted = (ctx: StepContext): Rule[] => rulesFor(gwlbSourceCidrs(ctx), ctx.spec.healthPort)

const describeRule = (r: Rule) => `ingress ${r.protocol}/${r.port} from ${r.cidr}`
const revokeRule = (r: Rule) => `revoke ${describeRule(r)}`
const permission = (r: Rule, description?: string): IpPermission => ({IpProtocol: r.protocol, FromPort: r.port, ToPort: r.port, IpRanges: [{CidrIp: r.cidr, Description: description}]})

function has(permissions: IpPermission[], rule: Rule): boolean {
  return permissions.some((p) => p.IpProtocol === rule.protocol && p.FromPort === rule.port && p.ToPort === rule.port && p.IpRanges?.some((r) => r.CidrIp === rule.cidr))
}

/**
 * Rules of this deployment for GENEVE and the health port from blocks it no longer wants (the VPC's whole
 * range, as gwlb before 0.3 opened, or a subnet no longer used). Rules for an old health port are the
 * health-check step's: they go only once the fleet has moved.
 */
function stale(ctx: StepContext, permissions: IpPermission[]): Rule[] {
  const keep = wanted(ctx)
  const mine = `gwlb ${ctx.spec.name}`
  return permissions.flatMap((p) => {
    const ours = (p.IpProtocol === 'udp' && p.FromPort === GENEVE_PORT) || (p.IpProtocol === 'tcp' && p.FromPort === ctx.spec.healthPort)
    if (!ours || p.FromPort !== p.ToPort) return []
    return (p.IpRanges ?? []).filter((r) => r.Description === mine).map((r) => ({protocol: p.IpProtocol!, port: p.FromPort!, cidr: r.CidrIp!}))
  }).filter((r) => !keep.some((k) => k.protocol === r.protocol && k.port === r.port && k.cidr === r.cidr))
}

async function currentStale(ctx: StepContext, id: string): Promise<Rule[]> {
  const {SecurityGroups = []} = await ctx.aws.ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [id]}))
  return stale(ctx, SecurityGroups[0]?.IpPermissions ?? [])
}

const groupsOf = (scope: Scope) => remember(scope, 'security-groups', async () => {
  const {SecurityGroups = []} = await scope.aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [deploymentFilter(scope.deployment)]}))
  return SecurityGroups.filter((g) => tagValue(g.Tags, DEPLOYMENT_TAG) === scope.deployment)
})

export const securityGroup: Step = {
  id: 'security-group',
  title: 'Security group for the appliances',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = names(ctx.spec, ctx.topology.region).securityGroup
    const {SecurityGroups = []} = await ctx.aws.ec2.send(new DescribeSecurityGroupsCommand({
      Filters: [{Name: 'vpc-id', Values: [ctx.spec.vpcId]}, {Name: 'group-name', Values: [name]}, deploymentFilter(ctx.spec.name)],
    }))
    const group = SecurityGroups.find((g) => tagValue(g.Tags, DEPLOYMENT_TAG) === ctx.spec.name)
    if (!group) return {resources: [], missing: [`security group ${name} (UDP ${GENEVE_PORT} and TCP ${ctx.spec.healthPort} from ${gwlbSourceCidrs(ctx).join(', ')})`]}
    const resources = [{type: 'security-group', id: group.GroupId!, name}]
    const absent = wanted(ctx).filter((rule) => !has(group.IpPermissions ?? [], rule))
    return {resources, missing: [...absent.map(describeRule), ...stale(ctx, group.IpPermissions ?? []).map(revokeRule)]}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).securityGroup
    let id = found.resources[0]?.id
    // A group found without some of its rules (an earlier run stopped in between) gets just those.
    const rules = id ? wanted(ctx).filter((r) => found.missing.includes(describeRule(r))) : wanted(ctx)
    if (!id) {
      const created = await ctx.aws.ec2.send(new CreateSecurityGroupCommand({
        GroupName: name,
        Description: `gwlb ${ctx.spec.name}: GENEVE and health checks from the GWLB's subnets`,
        VpcId: ctx.spec.vpcId,
        TagSpecifications: tagSpecifications('security-group', ctx.spec.name, name),
      }))
      id = created.GroupId!
    }
    const description = `gwlb ${ctx.spec.name}`
    if (rules.length > 0) await ctx.aws.ec2.send(new AuthorizeSecurityGroupIngressCommand({GroupId: id, IpPermissions: rules.map((r) => permission(r, description))}))
    // The narrower rules are in before the wider ones go: the GWLB's traffic is admitted throughout.
    const wider = found.missing.some((m) => m.startsWith('revoke ')) ? await currentStale(ctx, id) : []
    if (wider.length > 0) await ctx.aws.ec2.send(new RevokeSecurityGroupIngressCommand({GroupId: id, IpPermissions: wider.map((r) => permission(r))}))
    return done([{type: 'security-group', id, name}])
  },

  async owned(scope) {
    return (await groupsOf(scope)).map((g) => ({type: 'security-group', id: g.GroupId!, name: g.GroupName}))
  },

  /** A rule the settings ask for and the group lacks (revoked by hand): the GWLB's GENEVE or health checks no longer reach the appliances. */
  async report(scope, found) {
    const plain = plainReport(securityGroup.title, found)
    if (!scope.settings) return plain
    const [groups, {subnets}] = await Promise.all([groupsOf(scope), subnetsRemembered(scope, scope.settings.vpcId)])
    const cidrs = scope.settings.applianceSubnets.flatMap((id) => subnets.get(id)?.cidr ?? [])
    const problems = groups.flatMap((g) => rulesFor(cidrs, scope.settings!.healthPort).filter((r) => !has(g.IpPermissions ?? [], r))
      .map((r) => `${g.GroupId} has no ${describeRule(r)}: ${r.protocol === 'udp' ? 'GENEVE' : 'the health checks'} from the GWLB in that subnet cannot reach the appliances (${initCommand(scope)} puts it back)`))
    return {...plain, problems}
  },

  async remove(scope, owned) {
    // Terminating appliances keep their interfaces (and so the group) for a while: retry DependencyViolation.
    for (const r of owned)
      await retrying(
        () => scope.aws.ec2.send(new DeleteSecurityGroupCommand({GroupId: r.id})).catch(unlessNotFound('InvalidGroup.NotFound')),
        (error) => errorCode(error) === 'DependencyViolation',
        {attempts: Math.ceil(scope.timing.timeoutMs / scope.timing.pollMs), delayMs: scope.timing.pollMs},
      )
  },
}
