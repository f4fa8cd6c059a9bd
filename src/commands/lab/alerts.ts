import {BaseCommand} from '../../base-command.js'
import {labFlag} from '../../flags.js'
import {alertText, type Alert} from '../../eve.js'
import {labAlerts} from '../../lab/lab.js'

export default class LabAlerts extends BaseCommand<typeof LabAlerts> {
  static override summary = 'Show the alerts of the lab\'s inspection engines, every appliance\'s, oldest first (root)'
  static override description = 'One line per alert: time, appliance, signature id and message, source → destination, action (allowed: an alert only; blocked: dropped in --ids-mode ips). From each engine\'s eve.json in the lab\'s folder.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %>', 'sudo <%= config.bin %> <%= command.id %> --json']
  static override flags = {name: labFlag}

  async run(): Promise<{alerts: Alert[]}> {
    const alerts = await labAlerts(this.flags.name)
    if (!this.jsonEnabled()) {
      for (const a of alerts) this.log(alertText(a))
      if (alerts.length === 0) this.log('no alerts yet')
    }
    return {alerts}
  }
}
