import {AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, type IpPermission} from '@aws-sdk/client-ec2'
import {done, names, unlessNotFound, type Step, type StepContext} from '../step.js'
import {errorCode, retrying} from '../wait.js'
import {DEPLOYMENT_TAG, deploymentFilter, tagSpecifications, tagValue} from '../tags.js'

/** GENEVE from the GWLB and its health checks, from the VPC's own address ranges only. */
function wanted(ctx: StepContext): {protocol: string; port: number; cidr: string}[] {
  return ctx.topology.vpcCidrs.flatMap((cidr) => [
    {protocol: 'udp', port: 6081, cidr},
    {protocol: 'tcp', port: ctx.spec.healthPort, cidr},
  ])
}

const describeRule = (r: {protocol: string; port: number; cidr: string}) => `ingress ${r.protocol}/${r.port} from ${r.cidr}`

function has(permissions: IpPermission[], rule: {protocol: string; port: number; cidr: string}): boolean {
  return permissions.some((p) => p.IpProtocol === rule.protocol && p.FromPort === rule.port && p.ToPort === rule.port && p.IpRanges?.some((r) => r.CidrIp === rule.cidr))
}

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
    if (!group) return {resources: [], missing: [`security group ${name} (UDP 6081 and TCP ${ctx.spec.healthPort} from ${ctx.topology.vpcCidrs.join(', ')})`]}
    const resources = [{type: 'security-group', id: group.GroupId!, name}]
    const absent = wanted(ctx).filter((rule) => !has(group.IpPermissions ?? [], rule))
    return {resources, missing: absent.map(describeRule)}
  },

  async create(ctx, found) {
    const name = names(ctx.spec, ctx.topology.region).securityGroup
    let id = found.resources[0]?.id
    // A group found without some of its rules (an earlier run stopped in between) gets just those.
    const rules = id ? wanted(ctx).filter((r) => found.missing.includes(describeRule(r))) : wanted(ctx)
    if (!id) {
      const created = await ctx.aws.ec2.send(new CreateSecurityGroupCommand({
        GroupName: name,
        Description: `gwlb ${ctx.spec.name}: GENEVE and health checks from the VPC`,
        VpcId: ctx.spec.vpcId,
        TagSpecifications: tagSpecifications('security-group', ctx.spec.name, name),
      }))
      id = created.GroupId!
    }
    if (rules.length > 0)
      await ctx.aws.ec2.send(new AuthorizeSecurityGroupIngressCommand({
        GroupId: id,
        IpPermissions: rules.map((r) => ({IpProtocol: r.protocol, FromPort: r.port, ToPort: r.port, IpRanges: [{CidrIp: r.cidr, Description: `gwlb ${ctx.spec.name}`}]})),
      }))
    return done([{type: 'security-group', id, name}])
  },

  async owned(scope) {
    const {SecurityGroups = []} = await scope.aws.ec2.send(new DescribeSecurityGroupsCommand({Filters: [deploymentFilter(scope.deployment)]}))
    return SecurityGroups.filter((g) => tagValue(g.Tags, DEPLOYMENT_TAG) === scope.deployment).map((g) => ({type: 'security-group', id: g.GroupId!, name: g.GroupName}))
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
