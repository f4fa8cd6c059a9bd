import {Command, Errors, Interfaces, toConfiguredId} from '@oclif/core'
import chalk from 'chalk'
import {explainAwsError} from './aws/errors.js'
import {UserError} from './errors.js'

export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * oclif's usage errors span lines ("Parsing --route\n\t<what the parser said>\nSee more help with --help"):
 * one line of what was wrong.
 */
const oneLine = (message: string) =>
  message.split('\n').map((l) => l.trim()).filter((l) => l && !/^See more help with/.test(l)).join(' ').replace(/\s+/g, ' ')
    .replace(/^Parsing (--\S+) (.*\1)/, '$2')

/**
 * What every gwlb command shares: --json (the command's return value is the JSON), NO_COLOR, and errors as
 * one line that says what to do (stack traces only with DEBUG) — under --json, `{"error": {message, hint,
 * code}}` on stdout. Exit codes: 0 done, 1 failed (error.code says how), 2 bad usage.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  protected flags!: Interfaces.InferredFlags<T['baseFlags'] & T['flags']>
  protected args!: BaseArgs<T>

  override async init(): Promise<void> {
    await super.init()
    // chalk and oclif only look at FORCE_COLOR / TTY; https://no-color.org asks for NO_COLOR too.
    if (process.env.NO_COLOR) chalk.level = 0
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: this.ctor.baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as typeof this.flags
    this.args = args as BaseArgs<T>
  }

  protected override async catch(error: Error & {oclif?: {exit?: number}}): Promise<unknown> {
    // this.exit(): already decided, nothing to say.
    if (error instanceof Errors.ExitError) throw error
    if (process.env.DEBUG) process.stderr.write(`${error.stack ?? String(error)}\n`)
    const failure = this.failure(error)
    if (this.jsonEnabled()) this.logJson({error: {message: failure.message, hint: failure.hint, code: failure.code}})
    // One line, unwrapped: oclif would fold it to the terminal's width behind its own prefix.
    else this.logToStderr(`${chalk.red('Error:')} ${failure.line}`)
    return this.exit(failure.exitCode)
  }

  /** Any error as the UserError it amounts to: oclif's parse errors are usage, the SDK's are explained. */
  private failure(error: Error & {oclif?: {exit?: number}}): UserError {
    // Ctrl-C at a prompt (the terminal is raw there: a keypress, not a signal).
    if (error.name === 'ExitPromptError') return new UserError('interrupted at a question', 'nothing was changed; run the command again when ready', 'interrupted')
    const usage = error instanceof UserError ? error.code === 'usage' : error instanceof Errors.CLIError && error.oclif?.exit === 2
    if (usage) return new UserError(oneLine(error.message), (error as UserError).hint ?? `see ${[this.config.bin, this.id && toConfiguredId(this.id, this.config)].filter(Boolean).join(' ')} --help`, 'usage')
    const explained = explainAwsError(error)
    return explained instanceof UserError ? explained : new UserError(explained.message, undefined, 'internal')
  }
}
