import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {labFail, type FailoverResult} from '../../lab/lab.js'

export default class LabFail extends BaseCommand<typeof LabFail> {
  static override summary = 'Stop an appliance\'s data plane, as a failed instance would (root)'
  static override description = 'SIGTERM to its `gwlb appliance run`, which removes its tunnels and rules: GENEVE to it is refused and its health checks fail, so the GWLB stand-in marks it unhealthy after the unhealthy threshold. `gwlb lab heal` starts it again.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> appliance-1', 'sudo <%= config.bin %> <%= command.id %> appliance-1 --wait']
  static override args = {appliance: Args.string({description: 'appliance-N', required: true})}
  static override flags = {name: labFlag, wait: Flags.boolean({description: 'wait until the stand-in marks it unhealthy, and say how long that took'})}

  async run(): Promise<FailoverResult> {
    const result = await labFail(this.flags.name, this.args.appliance, this.flags.wait)
    this.log(`${result.node}: data plane stopped; ${result.seconds === undefined ? `the GWLB stand-in has it ${result.health}` : `unhealthy after ${result.seconds.toFixed(1)} s`}.`)
    return result
  }
}
