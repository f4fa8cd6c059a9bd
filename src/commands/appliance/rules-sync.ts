import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {syncRules} from '../../appliance/staged/rules-sync.js'
import type {SyncResult} from '../../appliance/staged/sync.js'
import {syncFlags} from '../../flags.js'

export default class ApplianceRulesSync extends BaseCommand<typeof ApplianceRulesSync> {
  static override summary = 'Fetch the deployment\'s IDS rules and reload them in this appliance\'s Suricata, live (root; run by gwlb-rules.timer)'
  static override description = 'Reads the pointer gwlb rules push writes in the deployment\'s bucket, with the instance\'s role; fetches the version it names, checks its SHA-256, has Suricata test it, replaces the rules file whole and reloads the engine through its control socket. A reload that fails puts the old file back; nothing changes when any step fails.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> --source s3://gwlb-egress-123456789012-us-east-1/appliance/ids/current.json --region us-east-1']
  static override flags = {
    ...syncFlags('IDS rules'),
    file: Flags.string({description: 'the rules file gwlb\'s Suricata configuration names', default: '/etc/gwlb/ids.rules'}),
    socket: Flags.string({description: 'Suricata\'s control socket', default: '/run/suricata/gwlb.socket'}),
  }

  async run(): Promise<SyncResult> {
    const f = this.flags
    const result = await syncRules({source: f.source, region: f.region, endpoint: f.endpoint, file: f.file, reload: f.reload, socket: f.socket})
    if (!this.jsonEnabled()) this.log(result.said)
    return result
  }
}
