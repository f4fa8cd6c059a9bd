import chalk from 'chalk'
import type {ListrRendererValue} from 'listr2'
import type {InitResult, Plan} from './aws/deployment.js'
import type {DeploymentStatus} from './aws/status.js'
import type {Resource} from './aws/step.js'
import type {OwnedStep} from './aws/teardown.js'
import type {TrafficStatus} from './aws/traffic.js'
import type {FailoverResult, LabStatus} from './lab/lab.js'
import {theLab} from './lab/plan.js'

/** listr2's live renderer on a terminal, one line per event in CI or a pipe, nothing under --json. */
export function rendererFor(json: boolean): ListrRendererValue {
  if (json) return 'silent'
  return process.stdout.isTTY && !process.env.CI ? 'default' : 'simple'
}

const resource = (r: Resource) => `${r.name && r.name !== r.id ? `${r.name} ` : ''}${chalk.dim(r.id)}${r.detail ? ` (${r.detail})` : ''}`

export function renderPlan(plan: Plan): string {
  const lines = [chalk.bold(`Plan for deployment ${plan.deployment} in ${plan.region}:`)]
  // A step with nothing found and nothing to do (no Transit Gateway attachment named) says nothing.
  for (const e of plan.entries.filter((x) => x.resources.length || x.missing.length)) {
    const mark = e.missing.length === 0 ? chalk.green('✔ found ') : e.resources.length ? chalk.yellow('~ change') : chalk.cyan('+ create')
    lines.push(`  ${mark} ${e.title}`)
    for (const r of e.resources) lines.push(`      ${chalk.green('=')} ${resource(r)}`)
    for (const m of e.missing) lines.push(`      ${chalk.cyan('+')} ${m}`)
  }
  for (const w of plan.warnings) lines.push(chalk.yellow(`  ! ${w}`))
  return lines.join('\n')
}

export function renderInitSummary(result: InitResult): string {
  const lines: string[] = []
  const changed = result.steps.filter((x) => x.outcome === 'changed')
  lines.push(chalk.bold(`\nDeployment ${result.deployment} (${result.region}): resources: ${result.created.length} created, ${result.found.length} found as they were; ${changed.length} ${changed.length === 1 ? 'part' : 'parts'} changed in place.`))
  for (const s of result.steps.filter((x) => x.outcome === 'created')) lines.push(`  ${chalk.cyan('+')} ${s.title}: ${s.resources.map(resource).join(', ')}`)
  for (const s of changed) lines.push(`  ${chalk.yellow('~')} ${s.title}: ${s.done.join('; ')}`)
  if (result.elasticIps.length) lines.push(`  Fixed egress addresses (Elastic IPs): ${chalk.bold(result.elasticIps.join(', '))}`)
  for (const w of result.warnings) lines.push(chalk.yellow(`  ! ${w}`))
  lines.push(`  Next: ${chalk.bold(result.next)}`)
  return lines.join('\n')
}

const VERDICT_COLOUR = {healthy: chalk.green, degraded: chalk.yellow, incomplete: chalk.red, absent: chalk.dim}

export function renderVerdictLine(s: DeploymentStatus): string {
  const detail = s.verdict === 'incomplete' ? `missing ${s.missing.join('; ')}` : s.verdict === 'degraded' ? s.problems.join('; ') : ''
  return `${s.deployment.padEnd(20)} ${VERDICT_COLOUR[s.verdict](s.verdict.padEnd(10))} ${detail}`
}

/** Aligned columns; the first row is the header. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r, n) => {
    const line = '    ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
    return n === 0 ? chalk.dim(line) : line
  })
}

/** The verdict and what to do, then each step as it tells itself: a line, and a table under it where it has one. */
export function renderStatus(s: DeploymentStatus): string {
  const out = [chalk.bold(`Deployment ${s.deployment} (${s.region}): `) + VERDICT_COLOUR[s.verdict](s.verdict)]
  for (const m of s.missing) out.push(chalk.red(`  missing: ${m}`))
  if (s.resume) out.push(`  to finish it: ${chalk.bold(s.resume)} (its settings are stored)`)
  for (const p of s.problems) out.push(chalk.yellow(`  ! ${p}`))
  for (const h of s.hints) out.push(`  ? ${h}`)
  for (const step of s.steps) {
    if (step.summary) out.push(`  ${step.summary}`)
    if (step.table) out.push(...table(step.table))
  }
  if (s.traffic) out.push(...renderTraffic(s.traffic))
  return out.join('\n')
}

/** Bytes as people read them. */
function bytesText(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let i = 0
  for (; n >= 1000 && i < units.length - 1; i++) n /= 1000
  return `${i ? n.toFixed(1) : n} ${units[i]}`
}

/** The fleet's traffic by AZ, each appliance's packets, and why a healthy fleet may carry nothing. */
function renderTraffic(t: TrafficStatus): string[] {
  const number = (n: number) => Math.round(n).toLocaleString('en-US')
  return [
    `  Traffic through the GWLB, last ${t.minutes} min (CloudWatch):`,
    ...table([['AZ', 'active flows', 'new flows', 'processed', 'healthy', 'unhealthy'], ...t.azs.map((a) => [a.az, number(a.activeFlows), number(a.newFlows), bytesText(a.bytes), number(a.healthy), number(a.unhealthy)])]),
    ...(t.appliances.length ? [`    packets in by appliance: ${t.appliances.map((a) => `${a.id} ${number(a.packetsIn)}`).join(', ')}`] : []),
    ...(t.idle ? [chalk.yellow(`  ! healthy, and nothing went through in ${t.minutes} min:`), ...t.idle.map((c) => chalk.yellow(`    - ${c}`))] : []),
  ]
}

export function renderOwned(deployment: string, owned: OwnedStep[]): string {
  const lines = [chalk.bold(`Deployment ${deployment} owns, in the order destroy removes it:`)]
  for (const o of owned.filter((x) => x.resources.length)) {
    lines.push(`  ${o.title}`)
    for (const r of o.resources) lines.push(`      ${chalk.red('-')} ${resource(r)}`)
  }
  if (lines.length === 1) lines.push('  nothing')
  // What the workloads lose: a route init made goes with nothing in its place.
  for (const r of owned.flatMap((o) => o.resources).filter((x) => x.type === 'route' && x.before !== undefined)) {
    const [table, cidr] = [r.id.slice(0, r.id.indexOf(':')), r.id.slice(r.id.indexOf(':') + 1)]
    lines.push(r.before ? `  ${table}: ${cidr} goes back to ${r.before}` : chalk.yellow(`  ! ${table}: ${cidr} is deleted, with nothing in its place: that table's subnets lose their way to ${cidr}`))
  }
  return lines.join('\n')
}

export const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

const HEALTH_COLOUR = {healthy: chalk.green, unhealthy: chalk.red, initial: chalk.yellow}

export function renderLabStatus(s: LabStatus): string {
  const h = s.standIn.health
  const drops = Object.entries(s.standIn.drops).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'
  return [
    chalk.bold(`${capitalized(theLab(s.name))} (${s.mode}), up since ${s.since}${s.upSeconds ? `, built in ${s.upSeconds.toFixed(1)} s` : ''}`),
    `  client ${s.hosts.client.ipv4} (${s.hosts.client.ipv6}) → internet host ${s.hosts.internet.ipv4} (${s.hosts.internet.ipv6})`,
    ...table([
      ['appliance', 'address', 'egress', 'data plane', 'health', 'flows', 'packets to', 'from', 'last check'],
      ...s.appliances.map((a) => [a.node, a.address, a.egress, a.dataPlane, HEALTH_COLOUR[a.state](a.state), String(a.flows), String(a.sent), String(a.received), a.last?.detail ?? '-']),
    ]),
    ...s.appliances.filter((a) => a.policy).map((a) => `  ${a.node} policy ${a.policy!.sha256.slice(0, 12)} (default ${a.policy!.default})${a.policy!.refused ? chalk.red(`, last push refused: ${a.policy!.refused.message}`) : ''}: ${
      a.policy!.rules.map((r) => `${r.name} ${r.action} ${r.flows} flows/${r.packets} pkts`).join(', ')}`),
    `  GWLB stand-in: ${s.standIn.fromEndpoint} packets into the endpoint, ${s.standIn.toEndpoint} out; failover ${s.standIn.failover}, stickiness ${s.standIn.stickiness}`,
    `  Health check: ${h.protocol}:${h.port} every ${h.intervalSeconds} s, healthy after ${h.healthyThreshold}, unhealthy after ${h.unhealthyThreshold}; flows given while none was healthy (fail open) ${s.standIn.failOpen}, moved off unhealthy ${s.standIn.rebalanced}; dropped: ${drops}`,
  ].join('\n')
}

/** What lab fail or heal did, and the stand-in's verdict (with the time it took, when waited for). */
export const renderFailover = (r: FailoverResult, done: string, verdict: string) =>
  `${r.node}: ${done}; ${r.seconds === undefined ? `the GWLB stand-in has it ${r.health}` : `${verdict} after ${r.seconds.toFixed(1)} s`}.${r.outlook ? ` ${capitalized(r.outlook)}.` : ''}`
