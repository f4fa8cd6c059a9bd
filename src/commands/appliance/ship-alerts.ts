import {Flags} from '@oclif/core'
import {AlertShipper} from '../../appliance/alerts/shipper.js'
import {instanceIdentity} from '../../appliance/host/imds.js'
import {AwsClients} from '../../aws/clients.js'
import {ENGINE_EVE} from '../../ids-rules.js'
import {BaseCommand} from '../../base-command.js'

export default class ApplianceShipAlerts extends BaseCommand<typeof ApplianceShipAlerts> {
  static override summary = 'Ship the inspection engine\'s eve.json to the deployment\'s CloudWatch Logs group, each line once (root; run by gwlb-alerts.service)'
  static override description = 'One stream per appliance (its instance id), batched, retried with backoff; the position in the file is kept across restarts and rotations, and a batch in flight when the shipper was killed is looked up in the stream before it is sent again.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> --log-group /gwlb/egress/eve']
  static override enableJsonFlag = false
  static override flags = {
    'log-group': Flags.string({description: 'the CloudWatch Logs group (gwlb init makes /gwlb/NAME/eve)', required: true}),
    stream: Flags.string({description: 'the stream (default: this instance\'s id)'}),
    region: Flags.string({description: 'the group\'s region (default: this instance\'s)'}),
    file: Flags.string({description: 'Suricata\'s eve.json', default: ENGINE_EVE}),
    state: Flags.string({description: 'where the position in the file is kept', default: '/var/lib/gwlb/eve-shipper.json'}),
    drain: Flags.boolean({description: 'ship what is in the file and stop (an appliance\'s last alerts, before it is let go)'}),
    events: Flags.string({description: 'the eve event types to ship (comma-separated): alert, drop, anomaly, flow, dns, tls, http…', default: 'alert'}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const identity = f.stream && f.region ? undefined : await instanceIdentity()
    const stop = new AbortController()
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort())
    const aws = new AwsClients({region: f.region ?? identity!.region})
    const stream = f.stream ?? identity!.instanceId
    this.logToStderr(`shipping ${f.file} to ${f['log-group']}/${stream}`)
    await new AlertShipper({file: f.file, state: f.state, events: f.events.split(',').map((e) => e.trim()).filter(Boolean), group: f['log-group'], stream, logs: aws.logs, signal: stop.signal, drain: f.drain, say: (line) => this.logToStderr(line)}).run()
    aws.destroy()
  }
}
