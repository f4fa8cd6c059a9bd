import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {labStatus, type LabStatus} from '../../lab/lab.js'
import {renderLabStatus} from '../../render.js'

export default class LabStatusCommand extends BaseCommand<typeof LabStatusCommand> {
  static override summary = 'Show a lab\'s appliances (data plane, health, flows) and the GWLB stand-in\'s counters (root)'
  static override examples = ['sudo <%= config.bin %> <%= command.id %>', 'sudo <%= config.bin %> <%= command.id %> --json']
  static override flags = {name: labFlag}

  async run(): Promise<LabStatus> {
    const status = await labStatus(this.flags.name)
    if (!this.jsonEnabled()) this.log(renderLabStatus(status))
    return status
  }
}
