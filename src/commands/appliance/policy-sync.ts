import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {syncFlags} from '../../flags.js'
import {syncPolicy} from '../../appliance/policy/sync.js'
import type {SyncResult} from '../../appliance/staged/sync.js'

export default class AppliancePolicySync extends BaseCommand<typeof AppliancePolicySync> {
  static override summary = 'Fetch the deployment\'s egress policy and put it in force on this appliance (root; run by gwlb-policy.timer)'
  static override description = 'Reads the pointer gwlb policy push writes in the deployment\'s bucket, with the instance\'s role; fetches the version it names, checks its SHA-256 and the policy itself, replaces the --policy file whole and has the appliance apply it (SIGHUP), waiting for its word. Nothing changes when any of that fails.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> --source s3://gwlb-egress-123456789012-us-east-1/appliance/policy/current.json --region us-east-1']
  static override flags = {
    ...syncFlags('policy'),
    file: Flags.string({description: 'the appliance\'s --policy file', default: '/etc/gwlb/policy.yaml'}),
  }

  async run(): Promise<SyncResult> {
    const f = this.flags
    const result = await syncPolicy({source: f.source, region: f.region, endpoint: f.endpoint, file: f.file, reload: f.reload})
    if (!this.jsonEnabled()) this.log(result.said)
    return result
  }
}
