import {runTool} from './system.js'

interface Queued {
  line: string
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * `ip` (or `tc`) commands of many tunnels' set-ups and tear-downs, run through one `-force -batch` process at a
 * time: lines given while a batch runs go into the next. 250 new endpoints at once then cost a few dozen
 * processes instead of several per tunnel (a process costs tens of milliseconds from a busy appliance; a
 * batch line, well under one). Each line still gets its own outcome: the tool names the lines that failed.
 */
export class CommandBatch {
  private queued: Queued[] = []
  private running = false

  /** options: before `-batch`, e.g. ['-6'] for `ip`'s IPv6 family. */
  constructor(private readonly command: 'ip' | 'tc', private readonly options: string[] = []) {}

  /** Runs one line (a command without the tool's name); rejects with what the tool said of that line. */
  run(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({line, resolve, reject})
      if (!this.running) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.running = true
    while (this.queued.length) {
      const batch = this.queued.splice(0)
      const {code, stderr} = await runTool(this.command, [...this.options, '-force', '-batch', '-'], batch.map((q) => q.line + '\n').join(''))
      const failed = failedLines(stderr)
      batch.forEach((q, i) => {
        const message = failed.get(i + 1) ?? (code > 1 ? stderr.trim() || `exit code ${code}` : undefined)
        if (message === undefined) q.resolve()
        else q.reject(new Error(`${[this.command, ...this.options, q.line].join(' ')}: ${message}`))
      })
    }
    // In the same step as the queue's last check: a line given after it starts a new drain.
    this.running = false
  }
}

/**
 * With -force, `ip` and `tc` go on past a failed line and names it after its error ("Command failed -:N"), exiting
 * with 1; any other non-zero code means it stopped (or never started) and no line's outcome is known.
 */
function failedLines(stderr: string): Map<number, string> {
  const failed = new Map<number, string>()
  let message: string[] = []
  for (const line of stderr.split('\n')) {
    const n = /^Command failed -:(\d+)$/.exec(line.trim())
    if (n) {
      failed.set(Number(n[1]), message.join('; ') || 'failed')
      message = []
    } else if (line.trim()) message.push(line.trim())
  }
  return failed
}

/** The batches of this process, shared by every tunnel: `ip` per family, and `tc`. */
export const batches = {ip4: new CommandBatch('ip', ['-4']), ip6: new CommandBatch('ip', ['-6']), tc: new CommandBatch('tc')}
