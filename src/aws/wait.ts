export interface WaitOptions {
  /** What is awaited, for the timeout message ("load balancer gwlb-x to become active"). */
  what: string
  timeoutMs: number
  intervalMs?: number
  /** Told the elapsed seconds on every poll, to show progress. */
  progress?: (elapsedSeconds: number) => void
}

/** Polls `check` until it returns a value other than undefined, or fails after the timeout. */
export async function waitFor<T>(check: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const start = Date.now()
  const interval = options.intervalMs ?? 5000
  for (;;) {
    const result = await check()
    if (result !== undefined) return result
    const elapsed = Date.now() - start
    if (elapsed >= options.timeoutMs)
      throw new Error(`timed out after ${Math.round(elapsed / 1000)}s waiting for ${options.what}; re-run the same command to resume`)
    options.progress?.(Math.round(elapsed / 1000))
    await new Promise((r) => setTimeout(r, Math.min(interval, options.timeoutMs - elapsed)))
  }
}

/** Retries `attempt` while `retryable` says the error is AWS's eventual consistency, with a bounded budget. */
export async function retrying<T>(attempt: () => Promise<T>, retryable: (error: unknown) => boolean, options: {attempts: number; delayMs: number}): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (i >= options.attempts || !retryable(error)) throw error
      await new Promise((r) => setTimeout(r, options.delayMs))
    }
  }
}

export const errorCode = (error: unknown): string => (error as {name?: string; Code?: string})?.name ?? (error as {Code?: string})?.Code ?? ''
