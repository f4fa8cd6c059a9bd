/**
 * An error the user can act on: printed as one line (message, then what to do), never with a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'UserError'
  }

  /** The single line shown to the user. */
  get line(): string {
    return this.hint ? `${this.message} — ${this.hint}` : this.message
  }
}
