import {Args} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {afterDashes, labFlag} from '../../flags.js'
import {labExec} from '../../lab/lab.js'

export default class LabExec extends BaseCommand<typeof LabExec> {
  static override summary = 'Run a command on a lab node: client, gwlb, internet or appliance-N (root)'
  static override description = 'The command runs in the node\'s network namespace with this terminal, and its exit code is this command\'s.'
  static override examples = [
    'sudo <%= config.bin %> <%= command.id %> client -- curl -s http://198.18.0.10/',
    'sudo <%= config.bin %> <%= command.id %> appliance-1 -- nft list ruleset',
    'sudo <%= config.bin %> <%= command.id %> appliance-2 -- tcpdump -ni gwi-abc',
  ]
  static override strict = false
  static override enableJsonFlag = false
  static override args = {node: Args.string({description: 'client, gwlb, internet or appliance-N', required: true})}
  static override flags = {name: labFlag}

  async run(): Promise<void> {
    // oclif reorders what it takes for arguments: the command is what follows -- as given.
    const command = afterDashes(this.argv) ?? ((await this.parse(LabExec)).argv as string[]).slice(1)
    process.exitCode = await labExec(this.flags.name, this.args.node, command)
  }
}
