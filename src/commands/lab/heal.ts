import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {labHeal, type FailoverResult} from '../../lab/lab.js'

export default class LabHeal extends BaseCommand<typeof LabHeal> {
  static override summary = 'Start a failed appliance\'s data plane again (root)'
  static override description = 'Returns once its health port answers; the GWLB stand-in takes it back after the healthy threshold.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> appliance-1 --wait']
  static override args = {appliance: Args.string({description: 'appliance-N', required: true})}
  static override flags = {name: labFlag, wait: Flags.boolean({description: 'wait until the stand-in marks it healthy, and say how long that took'})}

  async run(): Promise<FailoverResult> {
    const result = await labHeal(this.flags.name, this.args.appliance, this.flags.wait)
    this.log(`${result.node}: data plane running; ${result.seconds === undefined ? `the GWLB stand-in has it ${result.health}` : `healthy after ${result.seconds.toFixed(1)} s`}.`)
    return result
  }
}
