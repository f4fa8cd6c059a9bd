import {Command, Flags} from '@oclif/core'
import {writeSync} from 'node:fs'
import {AwsClients} from './aws/clients.js'
import {acquireLock} from './aws/lock.js'
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
    let interruption: Promise<never> | undefined
    // Ctrl-C while the lock's write is unanswered: the lock may be taken a moment later, and must go too.
    const acquiring = acquireLock(this.aws, deployment, `gwlb ${this.id}`, {waitMs: lockWaitSeconds * 1000, progress: (m) => this.logToStderr(m)})
    acquiring.catch(() => undefined)
    const interrupted = () => {
      interruption ??= (async () => {
        const release = acquiring.then((lock) => lock.release()).catch(() => undefined)
        await Promise.race([release, new Promise((r) => setTimeout(r, 5000))])
        const error = new UserError(`interrupted: gwlb ${this.id} stopped part-way`, 'what it made is kept and tagged; run the same command again to resume', 'interrupted')
        if (this.jsonEnabled()) this.logJson({error: {message: error.message, hint: error.hint, code: error.code}})
        // Straight to the terminal, last: the task list's renderer holds back what goes through process.stderr
        // while it draws, and draws a final frame on the way out.
        else process.once('exit', () => writeSync(2, `Error: ${error.line}\n`))
        process.exit(error.exitCode)
      })()
      return interruption
    }
    // \`on\`, not \`once\`, and kept until the process exits: a terminal's Ctrl-C reaches the whole process group,
    // and signal-exit (under the task list's renderer) kills the process with the signal itself when it finds
    // no other listener left, before the lock is given back. Ctrl-C while waiting for another run's lock is
    // an interruption too.
    process.on('SIGINT', interrupted).on('SIGTERM', interrupted)
    try {
      const lock = await acquiring
      try {
        return await change()
      } finally {
        // A child killed by the same Ctrl-C fails the change: the interruption, under way, says so and exits.
        if (interruption) await interruption
        await lock.release()
      }
    } finally {
      if (interruption) await interruption
      process.removeListener('SIGINT', interrupted).removeListener('SIGTERM', interrupted)
    }
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.awsClients?.destroy()
    return super.finally(error)
  }
}
