import {Flags} from '@oclif/core'
import {join} from 'node:path'
import {installUnit, renderUnit, UNIT_PATH, type InstallResult} from '../../appliance/host/systemd.js'
import {BaseCommand} from '../../base-command.js'
import {APPLIANCE_FLAGS, applianceRunArgs} from '../../appliance/run-flags.js'

export default class ApplianceInstall extends BaseCommand<typeof ApplianceInstall> {
  static override summary = 'Write the systemd unit that runs `gwlb appliance run` with these flags'
  static override description = 'Takes the same flags as `gwlb appliance run`. The unit starts after network-online, restarts 5 s after any exit, and stops with SIGTERM (clean tear-down). It is sandboxed: only the network capabilities, no new privileges, the system read-only but for /run/gwlb and --writable paths, a private /tmp. The launch template\'s user data calls this with --enable --now.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --mode one-arm --health-port 8080 --enable --now',
    '<%= config.bin %> <%= command.id %> --print',
  ]

  static override flags = {
    ...APPLIANCE_FLAGS,
    print: Flags.boolean({description: 'print the unit instead of writing it'}),
    enable: Flags.boolean({description: 'systemctl enable the unit'}),
    now: Flags.boolean({description: 'systemctl enable --now: also start it'}),
    'unit-path': Flags.string({description: 'where to write the unit', default: UNIT_PATH}),
    writable: Flags.string({description: 'a path the appliance and its hooks may write (repeatable; the unit keeps the rest of the system read-only to them)', multiple: true}),
  }

  async run(): Promise<InstallResult | {unit: string}> {
    const command = [process.execPath, join(this.config.root, 'bin', 'run.js'), 'appliance', 'run', ...applianceRunArgs(this.flags)]
    const unit = renderUnit(command, {writable: this.flags.writable})
    if (this.flags.print) {
      this.log(unit)
      return {unit}
    }
    const result = await installUnit(unit, {path: this.flags['unit-path'], enable: this.flags.enable, now: this.flags.now})
    this.log(`wrote ${result.path}${result.started ? ', enabled and started' : result.enabled ? ', enabled' : ''}`)
    return result
  }
}
