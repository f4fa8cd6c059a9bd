import {Flags} from '@oclif/core'
import {followAlerts, parseSince, recentAlerts} from '../aws/alerts.js'
import {alertsGroup} from '../aws/steps/log-group.js'
import {AwsCommand} from '../aws-command.js'
import {alertText, type Alert} from '../eve.js'
import {deploymentName, nameFlag} from '../flags.js'

export default class Alerts extends AwsCommand<typeof Alerts> {
  static override summary = 'Show the alerts of the fleet\'s inspection engines, every appliance\'s, oldest first'
  static override description = 'One line per alert: time, appliance (its instance id), signature id and message, source → destination, action (allowed: an alert only; blocked: dropped by an ips engine). Read from the deployment\'s CloudWatch Logs group /gwlb/NAME/eve, where each appliance ships its eve.json.'
  static override examples = ['<%= config.bin %> <%= command.id %> --name egress', '<%= config.bin %> <%= command.id %> --name egress --since 24h --json', '<%= config.bin %> <%= command.id %> --name egress --follow']
  static override flags = {
    name: nameFlag('the deployment'),
    since: Flags.string({description: 'how far back: 30m, 1h, 2d', default: '1h'}),
    limit: Flags.integer({description: 'at most this many alerts (the oldest of the period first)', default: 10_000, min: 1}),
    follow: Flags.boolean({char: 'f', description: 'keep printing new alerts as they arrive (Ctrl-C ends it); with --json, one object per line'}),
  }

  async run(): Promise<{alerts: Alert[]; more: boolean} | undefined> {
    const f = this.flags
    const group = alertsGroup(deploymentName(f.name))
    const sinceMs = parseSince(f.since)
    if (!f.follow) {
      const read = await recentAlerts(this.aws, group, {sinceMs, limit: f.limit})
      if (!this.jsonEnabled()) {
        for (const a of read.alerts) this.log(alertText(a))
        this.log(read.alerts.length ? `${read.alerts.length} alerts in the last ${f.since}${read.more ? ` (the first ${f.limit}: there are more; narrow --since or raise --limit)` : ''}` : `no alerts in the last ${f.since}`)
      }
      return read
    }
    const stop = new AbortController()
    process.once('SIGINT', () => stop.abort())
    for await (const batch of followAlerts(this.aws, group, {sinceMs, signal: stop.signal}))
      // this.log() says nothing under --json: here the JSON is the stream itself, one alert a line.
      for (const a of batch) process.stdout.write(`${this.jsonEnabled() ? JSON.stringify(a) : alertText(a)}\n`)
    return undefined
  }
}
