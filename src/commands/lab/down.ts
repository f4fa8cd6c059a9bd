import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {labDown} from '../../lab/lab.js'
import {theLab} from '../../lab/plan.js'
import {capitalized} from '../../render.js'

export default class LabDown extends BaseCommand<typeof LabDown> {
  static override summary = 'Remove a lab: its processes, namespaces, interfaces and routes (root)'
  static override description = 'Stops every process in the lab\'s namespaces (the appliances with SIGTERM, so they undo their rules; also what `lab exec` left running), then deletes the namespaces. Also cleans a lab left half built or by a crash. Safe to re-run.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %>']
  static override flags = {name: labFlag}

  async run(): Promise<{namespaces: string[]}> {
    const result = await labDown(this.flags.name)
    const lab = capitalized(theLab(this.flags.name))
    this.log(result.namespaces.length ? `${lab} removed: ${result.namespaces.join(', ')}.` : `${lab} is not here; nothing to remove.`)
    return result
  }
}
