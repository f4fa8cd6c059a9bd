import {Args} from '@oclif/core'
import {resolve} from 'node:path'
import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {labRules, type RulesResult} from '../../lab/lab.js'

export default class LabRules extends BaseCommand<typeof LabRules> {
  static override summary = 'Load a new rules file into every appliance\'s inspection engine, live (root)'
  static override description = 'Checked with Suricata\'s own test mode first: a file it refuses changes nothing. Each engine then reloads it through its control socket, with no restart of the engine or the appliance.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> ./my.rules']
  static override args = {file: Args.string({description: 'a Suricata rules file', required: true})}
  static override flags = {name: labFlag}

  async run(): Promise<RulesResult> {
    const result = await labRules(this.flags.name, resolve(this.args.file))
    if (!this.jsonEnabled()) {
      for (const e of result.engines) this.log(`${e.appliance}: reloaded in ${e.seconds.toFixed(1)} s (engine pid ${e.pid}, not restarted)`)
      this.log(`rules sha256 ${result.sha256}`)
    }
    return result
  }
}
