import type {LogGroup} from '@aws-sdk/client-cloudwatch-logs'
import {CreateLogGroupCommand, DeleteLogGroupCommand, DescribeLogGroupsCommand, ListTagsForResourceCommand, PutRetentionPolicyCommand} from '../../sdk/cloudwatch-logs.js'
import {recentAlerts} from '../alerts.js'
import {differences, done, drift, plainReport, remember, type Scope, type Step} from '../step.js'
import {DEPLOYMENT_TAG} from '../tags.js'

/** Where the appliances' inspection engines send their alerts: one stream per instance. */
export const alertsGroup = (deployment: string) => `/gwlb/${deployment}/eve`

/** The group, described once per status run (owned() and the report both want it). */
function theGroup(scope: Pick<Scope, 'aws' | 'cache'>, name: string): Promise<LogGroup | undefined> {
  return remember(scope, `log-group ${name}`, async () => {
    const {logGroups = []} = await scope.aws.logs.send(new DescribeLogGroupsCommand({logGroupNamePrefix: name}))
    return logGroups.find((g) => g.logGroupName === name)
  })
}

const resourceOf = (g: LogGroup) => ({type: 'log-group', id: g.logGroupName!, detail: `${g.retentionInDays ?? 'never expires'}${g.retentionInDays ? ' days' : ''}`})

/**
 * The CloudWatch Logs group of the fleet's alerts (gwlb appliance ship-alerts writes it, gwlb alerts reads it),
 * with the retention asked for; made only where the appliances run an engine. destroy removes it unless
 * --keep-logs.
 */
export const logGroup: Step = {
  id: 'log-group',
  title: 'CloudWatch Logs group for the alerts',
  needs: [],
  enabled: (spec) => spec.ids !== 'none',

  async find(ctx) {
    const name = alertsGroup(ctx.spec.name)
    const found = await theGroup(ctx, name)
    if (!found) return {resources: [], missing: [`log group ${name}, kept ${ctx.spec.logRetention} days`]}
    return {resources: [resourceOf(found)], missing: differences([['retention', found.retentionInDays, ctx.spec.logRetention]])}
  },

  async create(ctx, found) {
    const name = alertsGroup(ctx.spec.name)
    if (!found.resources.length)
      await ctx.aws.logs.send(new CreateLogGroupCommand({logGroupName: name, tags: {[DEPLOYMENT_TAG]: ctx.spec.name, Name: name}})).catch((error: unknown) => {
        if ((error as Error).name !== 'ResourceAlreadyExistsException') throw error
      })
    await ctx.aws.logs.send(new PutRetentionPolicyCommand({logGroupName: name, retentionInDays: ctx.spec.logRetention}))
    return done([resourceOf({logGroupName: name, retentionInDays: ctx.spec.logRetention})])
  },

  async owned(scope) {
    const group = await theGroup(scope, alertsGroup(scope.deployment))
    if (!group?.arn) return []
    // DescribeLogGroups' ARN ends in :* ; the tags are the log group's own.
    const {tags = {}} = await scope.aws.logs.send(new ListTagsForResourceCommand({resourceArn: group.arn.replace(/:\*$/, '')}))
    return tags[DEPLOYMENT_TAG] === scope.deployment ? [resourceOf(group)] : []
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.logs.send(new DeleteLogGroupCommand({logGroupName: r.id})).catch((error: unknown) => {
      if ((error as Error).name !== 'ResourceNotFoundException') throw error
    })
  },

  /** The retention it has against the one asked for, and the alerts of the last hour by appliance. */
  async report(scope, found) {
    const plain = plainReport(logGroup.title, found)
    const group = found[0]
    if (!group) return plain
    const lastHour = await recentAlerts(scope.aws, group.id, {sinceMs: 3600_000})
    const byAppliance = new Map<string, number>()
    for (const a of lastHour.alerts) byAppliance.set(a.appliance, (byAppliance.get(a.appliance) ?? 0) + 1)
    const retention = (await theGroup(scope, group.id))?.retentionInDays
    return {
      ...plain,
      problems: scope.settings?.ids === 'suricata' ? drift(scope, [['log retention', retention, scope.settings.logRetention]]) : [],
      summary: `${plain.summary}; alerts in the last hour: ${lastHour.alerts.length}${lastHour.more ? '+' : ''}`,
      table: byAppliance.size ? [['appliance', 'alerts, last hour'], ...[...byAppliance].map(([id, n]) => [id, String(n)])] : undefined,
      detail: {retentionInDays: retention, alertsLastHour: Object.fromEntries(byAppliance)},
    }
  },
}
