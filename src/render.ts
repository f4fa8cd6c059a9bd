import chalk from 'chalk'
import type {ListrRendererValue} from 'listr2'
import type {InitResult, Plan} from './aws/deployment.js'
import type {Resource} from './aws/step.js'

/** listr2's live renderer on a terminal, one line per event in CI or a pipe, nothing under --json. */
export function rendererFor(json: boolean): ListrRendererValue {
  if (json) return 'silent'
  return process.stdout.isTTY && !process.env.CI ? 'default' : 'simple'
}

const resource = (r: Resource) => `${r.name && r.name !== r.id ? `${r.name} ` : ''}${chalk.dim(r.id)}${r.detail ? ` (${r.detail})` : ''}`

export function renderPlan(plan: Plan): string {
  const lines = [chalk.bold(`Plan for deployment ${plan.deployment} in ${plan.region}:`)]
  for (const e of plan.entries) {
    const mark = e.missing.length === 0 ? chalk.green('✔ found ') : e.resources.length ? chalk.yellow('◐ partly') : chalk.cyan('+ create')
    lines.push(`  ${mark} ${e.title}`)
    for (const r of e.resources) lines.push(`      ${chalk.green('=')} ${resource(r)}`)
    for (const m of e.missing) lines.push(`      ${chalk.cyan('+')} ${m}`)
  }
  for (const w of plan.warnings) lines.push(chalk.yellow(`  ! ${w}`))
  return lines.join('\n')
}

export function renderInitSummary(result: InitResult): string {
  const lines = [chalk.bold(`\nDeployment ${result.deployment} (${result.region}): ${result.created.length} resources created, ${result.found.length} found.`)]
  for (const s of result.steps.filter((x) => x.outcome === 'created')) lines.push(`  ${chalk.cyan('+')} ${s.title}: ${s.resources.map(resource).join(', ')}`)
  if (result.elasticIps.length) lines.push(`  Fixed egress addresses (Elastic IPs): ${chalk.bold(result.elasticIps.join(', '))}`)
  for (const w of result.warnings) lines.push(chalk.yellow(`  ! ${w}`))
  lines.push(`  Next: ${chalk.bold(result.next)}`)
  return lines.join('\n')
}
