/**
 * What kind of failure it was: `error.code` under --json, for scripts. `usage` (bad flags or arguments)
 * exits 2, `interrupted` (Ctrl-C) 130, everything else 1. `unhealthy`: the cut-over waited in vain;
 * `locked`: another run is changing the deployment; `refused`: a change that cannot be made in place;
 * `not-found`: no deployment of that name owns anything here.
 */
export type ErrorCode =
  | 'usage' | 'invalid-input' | 'access-denied' | 'no-credentials' | 'expired-credentials' | 'no-region' | 'quota' | 'unreachable' | 'internal'
  | 'unhealthy' | 'locked' | 'refused' | 'interrupted' | 'not-found'

/**
 * An error the user can act on: printed as one line (message, then what to do), never with a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code: ErrorCode = 'invalid-input',
  ) {
    super(message)
    this.name = 'UserError'
  }

  get exitCode(): number {
    return this.code === 'usage' ? 2 : this.code === 'interrupted' ? 130 : 1
  }

  /** The single line shown to the user. */
  get line(): string {
    return this.hint ? `${this.message} — ${this.hint}` : this.message
  }
}
