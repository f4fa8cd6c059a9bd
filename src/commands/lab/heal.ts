import {BaseCommand} from '../../base-command.js'
import {applianceChange} from '../../flags.js'
import {labHeal, type FailoverResult} from '../../lab/lab.js'
import {renderFailover} from '../../render.js'

const {args, flags} = applianceChange('healthy')

export default class LabHeal extends BaseCommand<typeof LabHeal> {
  static override summary = 'Start a failed appliance\'s data plane again (root)'
  static override description = 'Returns once its health port answers; the GWLB stand-in takes it back after the healthy threshold.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> appliance-1 --wait']
  static override args = args
  static override flags = flags

  async run(): Promise<FailoverResult> {
    const result = await labHeal(this.flags.name, this.args.appliance, this.flags.wait)
    this.log(renderFailover(result, 'data plane running', 'healthy'))
    return result
  }
}
