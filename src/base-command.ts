import {Command, Errors, Flags, Interfaces} from '@oclif/core'
import chalk from 'chalk'
import {AwsClients} from './aws/clients.js'
import {explainAwsError} from './aws/errors.js'
import {UserError} from './errors.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * What every gwlb command shares: --region/--profile on top of the SDK's credential chain, --json (the
 * command's return value is the JSON), NO_COLOR, and one-line errors (stack traces only with DEBUG).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

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

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  private awsClients?: AwsClients

  override async init(): Promise<void> {
    await super.init()
    // chalk and oclif only look at FORCE_COLOR / TTY; https://no-color.org asks for NO_COLOR too.
    if (process.env.NO_COLOR) chalk.level = 0
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** AWS clients for --region/--profile, built on first use. */
  protected get aws(): AwsClients {
    this.awsClients ??= new AwsClients({region: this.flags.region, profile: this.flags.profile})
    return this.awsClients
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.awsClients?.destroy()
    return super.finally(error)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own errors (bad flags, exit()) already read well.
    if (error.oclif) return super.catch(error)
    if (process.env.DEBUG) this.logToStderr(error.stack ?? String(error))
    const explained = explainAwsError(error)
    const line = explained instanceof UserError ? explained.line : explained.message
    const exit = explained instanceof UserError ? explained.exitCode : 1
    if (this.jsonEnabled()) return super.catch(new Errors.CLIError(line, {exit}))
    // One line, unwrapped: oclif would fold it to the terminal's width behind its own prefix.
    this.logToStderr(`${chalk.red('Error:')} ${line}`)
    return this.exit(exit)
  }
}
