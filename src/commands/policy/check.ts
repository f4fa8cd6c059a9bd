import {Args} from '@oclif/core'
import {readFile} from 'node:fs/promises'
import {BaseCommand} from '../../base-command.js'
import {UserError} from '../../errors.js'
import {checkPolicy, problemLine, shortVersion, type Problem} from '../../policy.js'

interface CheckResult {
  file: string
  ok: boolean
  /** The version an appliance would report for it, when it has no error. */
  sha256?: string
  rules?: number
  problems: Problem[]
}

export default class PolicyCheck extends BaseCommand<typeof PolicyCheck> {
  static override summary = 'Check an egress policy file offline: schema, values, shadowed rules, overlaps'
  static override description = 'One line per problem, FILE:LINE: PATH: what is wrong. Errors (exit 1): what the schema refuses, a bad CIDR block or port range, a duplicate name, a rule that an earlier one leaves nothing to with another action. Warnings (exit 0): a rule that repeats an earlier one, blocks inside others of the same rule.'
  static override examples = ['<%= config.bin %> <%= command.id %> policy.yaml', '<%= config.bin %> <%= command.id %> policy.yaml --json']
  static override args = {file: Args.string({description: 'the policy file (YAML or JSON)', required: true})}

  async run(): Promise<CheckResult> {
    const {file} = this.args
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UserError(`${file} cannot be read (${error.code ?? error.message})`, 'give the path of a policy file (gwlb policy example prints one)', 'usage')
    })
    const {policy, problems} = checkPolicy(text)
    const result: CheckResult = {file, ok: Boolean(policy), problems, ...(policy ? {sha256: policy.sha256, rules: policy.rules.length} : {})}
    if (!this.jsonEnabled()) {
      for (const p of problems) this.log(problemLine(file, p))
      const errors = problems.filter((p) => p.severity === 'error').length
      if (policy) this.log(`${file}: ${policy.rules.length} rules, default ${policy.default}, version ${shortVersion(policy.sha256)}${problems.length ? ` (${problems.length} warnings)` : ''}`)
      else this.log(`${file}: ${errors} error${errors === 1 ? '' : 's'}; not applied anywhere until fixed`)
    }
    if (!policy) process.exitCode = 1
    return result
  }
}
