import {Flags} from '@oclif/core'
import {publishReport} from '../../appliance/host/fleet-report.js'
import {ENGINE_EVE} from '../../ids-rules.js'
import {BaseCommand} from '../../base-command.js'
import type {FleetReport} from '../../fleet-report.js'

export default class ApplianceReport extends BaseCommand<typeof ApplianceReport> {
  static override summary = 'Say to the operator how this appliance is: written to the deployment\'s bucket for gwlb status (run by gwlb-report.timer)'
  static override description = 'Its data plane\'s own report (status, tunnels, flows, the policy in force, the inspection hook), and with --engine-socket its inspection engine (running, stopped or not installed; rules loaded; the version of the operator\'s rules) and its alert shipping (shipped, backlog), as reports/INSTANCE-ID.json in the deployment\'s bucket.'
  static override examples = ['sudo <%= config.bin %> <%= command.id %> --bucket gwlb-egress-123456789012-us-east-1 --region us-east-1 --engine-socket /run/suricata/gwlb.socket']
  static override flags = {
    bucket: Flags.string({description: 'the deployment\'s bucket', required: true}),
    region: Flags.string({description: 'the bucket\'s region', required: true}),
    endpoint: Flags.string({description: 'an S3 endpoint other than AWS\'s (an emulator)', hidden: true}),
    metrics: Flags.string({description: 'the data plane\'s report listener (its --metrics-listen)', default: 'http://127.0.0.1:9641'}),
    'engine-socket': Flags.string({description: 'the inspection engine\'s control socket (Suricata\'s unix-command): report the engine and its alert shipping too'}),
    rules: Flags.string({description: 'the operator\'s rules file (gwlb rules push)', default: '/etc/gwlb/ids.rules'}),
    'shipper-state': Flags.string({description: 'gwlb appliance ship-alerts\' --state', default: '/var/lib/gwlb/eve-shipper.json'}),
    eve: Flags.string({description: 'Suricata\'s eve.json', default: ENGINE_EVE}),
    'scaling-group': Flags.string({description: 'publish its GENEVE packets a second for this Auto Scaling group\'s target tracking (CloudWatch gwlb/PacketsPerSecond)'}),
    'scaling-state': Flags.string({description: 'where the last packet count is kept between reports', default: '/var/lib/gwlb/report-packets.json'}),
  }

  async run(): Promise<FleetReport> {
    const f = this.flags
    const engine = f['engine-socket'] ? {socket: f['engine-socket'], rules: f.rules, shipperState: f['shipper-state'], eve: f.eve} : undefined
    const scalingMetric = f['scaling-group'] ? {group: f['scaling-group'], state: f['scaling-state']} : undefined
    const report = await publishReport({bucket: f.bucket, region: f.region, endpoint: f.endpoint, metrics: f.metrics, engine, scalingMetric})
    if (!this.jsonEnabled()) this.log(`reported ${report.instanceId}: data plane ${report.dataPlane?.status ?? 'not answering'}${report.engine ? `, engine ${report.engine.state}` : ''}${report.packetsPerSecond === undefined ? '' : `, ${report.packetsPerSecond} packets/s`}`)
    return report
  }
}
