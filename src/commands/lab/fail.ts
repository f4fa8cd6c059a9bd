import {BaseCommand} from '../../base-command.js'
import {applianceChange} from '../../flags.js'
import {labFail, type FailoverResult} from '../../lab/lab.js'
import {renderFailover} from '../../render.js'

const {args, flags} = applianceChange('unhealthy')

export default class LabFail extends BaseCommand<typeof LabFail> {
  static override summary = 'Stop an appliance\'s data plane, as a failed instance would (root)'
  static override description = 'SIGTERM to its `gwlb appliance run`, which removes its tunnels and rules: GENEVE to it is refused and its health checks fail, so the GWLB stand-in marks it unhealthy after the unhealthy threshold. `gwlb lab heal` starts it again.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> appliance-1', 'sudo <%= config.bin %> <%= command.id %> appliance-1 --wait']
  static override args = args
  static override flags = flags

  async run(): Promise<FailoverResult> {
    const result = await labFail(this.flags.name, this.args.appliance, this.flags.wait)
    this.log(renderFailover(result, 'data plane stopped', 'unhealthy'))
    return result
  }
}
