import {Command, Flags} from '@oclif/core'
import {AwsClients} from './aws/clients.js'
import {acquireLock, type DeploymentLock} from './aws/lock.js'
import {BaseCommand} from './base-command.js'
import {UserError} from './errors.js'

/** A command that talks to AWS: --region/--profile on top of the SDK's credential chain, and the clients. */
export abstract class AwsCommand<T extends typeof Command> extends BaseCommand<T> {
  static override baseFlags = {
    region: Flags.string({
      description: 'AWS region (default: AWS_REGION or the profile\'s region)',
      helpGroup: 'AWS',
      env: 'AWS_REGION',
    }),
    profile: Flags.string({
      description: 'AWS shared-config profile (default: AWS_PROFILE, then the SDK\'s default credential chain)',
      helpGroup: 'AWS',
    }),
  }

  private awsClients?: AwsClients

  override async init(): Promise<void> {
    await super.init()
    // A region the SDK does not know fails here, in one line, not as an unreachable endpoint later.
    await this.aws.region()
  }

  /** AWS clients for --region/--profile, built on first use. */
  protected get aws(): AwsClients {
    const flags = this.flags as {region?: string; profile?: string}
    this.awsClients ??= new AwsClients({region: flags.region, profile: flags.profile})
    return this.awsClients
  }

  /**
   * Runs `change` holding the deployment's lock, so that no other run changes it meanwhile. Ctrl-C (or
   * SIGTERM) lets go of the lock and exits 130 with one line: what was made is kept, and a re-run resumes.
   */
  protected async changing<R>(deployment: string, lockWaitSeconds: number, change: () => Promise<R>): Promise<R> {
    let lock: DeploymentLock | undefined
    const interrupted = async () => {
      await Promise.race([lock?.release().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))])
      const error = new UserError(`interrupted: gwlb ${this.id} stopped part-way`, 'what it made is kept and tagged; run the same command again to resume', 'interrupted')
      if (this.jsonEnabled()) this.logJson({error: {message: error.message, hint: error.hint, code: error.code}})
      else process.stderr.write(`Error: ${error.line}\n`)
      process.exit(error.exitCode)
    }
    // From before the lock is taken: Ctrl-C while waiting for another run's lock is an interruption too.
    process.once('SIGINT', interrupted).once('SIGTERM', interrupted)
    try {
      lock = await acquireLock(this.aws, deployment, `gwlb ${this.id}`, {waitMs: lockWaitSeconds * 1000, progress: (m) => this.logToStderr(m)})
      return await change()
    } finally {
      process.removeListener('SIGINT', interrupted).removeListener('SIGTERM', interrupted)
      await lock?.release()
    }
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.awsClients?.destroy()
    return super.finally(error)
  }
}
