import {Flags} from '@oclif/core'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {runLifecycle} from '../../appliance/host/lifecycle.js'
import {instanceIdentity, instanceMetadata} from '../../appliance/host/imds.js'
import {AwsClients} from '../../aws/clients.js'
import {DRAIN_SECONDS, hookName} from '../../aws/steps/lifecycle-hooks.js'
import {BaseCommand} from '../../base-command.js'

export default class ApplianceLifecycle extends BaseCommand<typeof ApplianceLifecycle> {
  static override summary = 'Complete this appliance\'s lifecycle hooks: in service once its data plane is ready, out only after it drained (root; run by gwlb-lifecycle.service)'
  static override description = `Completes the group's launch hook once the data plane says ready (what its health check answers 200 to), then watches where the instance is headed (IMDS autoscaling/target-lifecycle-state). Once that is Terminated, AWS has deregistered it from the GWLB and waited the deregistration delay: it waits for its last flows (up to --drain-seconds), runs --on-terminate, and completes the terminate hook. An action that is not waiting is said and skipped.`
  static override examples = ['sudo <%= config.bin %> <%= command.id %> --group gwlb-egress --on-terminate "systemctl stop gwlb-appliance.service"']
  static override enableJsonFlag = false
  static override flags = {
    group: Flags.string({description: 'the Auto Scaling group (gwlb init names it gwlb-NAME)', required: true}),
    'launch-hook': Flags.string({description: 'the launch hook (default GROUP-launch)'}),
    'terminate-hook': Flags.string({description: 'the terminate hook (default GROUP-terminate)'}),
    metrics: Flags.string({description: 'the data plane\'s report listener (its --metrics-listen)', default: 'http://127.0.0.1:9641'}),
    'drain-seconds': Flags.integer({description: 'how long to wait for the last flows once leaving', default: DRAIN_SECONDS, min: 0}),
    'on-terminate': Flags.string({description: 'a command run after the drain, before the instance is let go (e.g. stop the data plane: its on-destroy hooks run)'}),
    'poll-interval': Flags.integer({description: 'milliseconds between looks at the data plane and IMDS', default: 5000, min: 10, hidden: true}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const identity = await instanceIdentity()
    const aws = new AwsClients({region: identity.region})
    const stop = new AbortController()
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort())
    const onTerminate = f['on-terminate']
    const left = await runLifecycle({
      group: f.group, launchHook: f['launch-hook'] ?? hookName(f.group, 'launch'), terminateHook: f['terminate-hook'] ?? hookName(f.group, 'terminate'),
      instanceId: identity.instanceId, autoscaling: aws.autoscaling, metrics: f.metrics, drainSeconds: f['drain-seconds'], pollMs: f['poll-interval'],
      // A session of its own each time: the service runs for the instance's life, a token for 5 minutes.
      targetState: async () => (await instanceMetadata())('autoscaling/target-lifecycle-state'),
      onTerminate: async () => {
        if (onTerminate) await promisify(execFile)('/bin/sh', ['-c', onTerminate])
      },
      signal: stop.signal, say: (line) => this.log(line),
    })
    aws.destroy()
    if (left) this.log(`${identity.instanceId} let go`)
  }
}
