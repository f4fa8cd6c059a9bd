import {PassThrough, Writable} from 'node:stream'
import {stripVTControlCharacters} from 'node:util'

export const KEY = {down: '\x1b[B', up: '\x1b[A', space: ' ', enter: '\r'}

/**
 * Types into the real inquirer prompts through their input stream and reads what they draw, as a person at
 * a terminal would: wait for a question, look at the options, press keys.
 */
export class PromptDriver {
  readonly input = new PassThrough()
  /** A terminal that outlives each prompt (inquirer ends the stream it draws on when a prompt closes). */
  readonly output: Writable
  private screen = ''
  private answered = 0

  constructor() {
    const output = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.screen += stripVTControlCharacters(chunk.toString())
        done()
      },
    })
    output.end = () => output
    this.output = output
  }

  get context() {
    return {input: this.input, output: this.output}
  }

  /** Waits for the question, then returns the options as last drawn (lines after the question). */
  async question(message: string, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = this.screen.lastIndexOf(message)
      if (at >= this.answered) {
        await new Promise((r) => setTimeout(r, 30)) // let the prompt finish drawing
        return this.screen.slice(this.screen.lastIndexOf(message)).split('\n').slice(1)
      }
      if (Date.now() > deadline) throw new Error(`no question "${message}" within ${timeoutMs} ms; screen ends with:\n${this.screen.slice(-600)}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private send(keys: string[]): void {
    this.answered = this.screen.length
    for (const k of keys) this.input.write(k)
  }

  /** Types text (or nothing, to take the default) and presses enter. */
  async type(message: string, text = ''): Promise<void> {
    await this.question(message)
    this.send([text, KEY.enter])
  }

  async yes(message: string, answer: boolean): Promise<void> {
    await this.question(message)
    this.send([answer ? 'y' : 'n', KEY.enter])
  }

  /** In a list, moves to the option that contains `text` and picks it. */
  async select(message: string, text: string): Promise<void> {
    const lines = await this.question(message)
    this.send([...this.moves(lines, text), KEY.enter])
  }

  /** In a checkbox list, ticks the options that contain each of `texts` (in list order), then confirms. */
  async check(message: string, texts: string[]): Promise<void> {
    const lines = await this.question(message)
    const keys: string[] = []
    let cursor = this.cursor(lines)
    for (const text of texts) {
      const target = this.lineOf(lines, text)
      const between = lines.slice(Math.min(cursor, target) + 1, Math.max(cursor, target) + (target > cursor ? 1 : 0))
      const disabled = between.filter((l) => /\(not public\)|^\s*- /.test(l)).length
      keys.push(...new Array(Math.abs(target - cursor) - disabled).fill(target > cursor ? KEY.down : KEY.up), KEY.space)
      cursor = target
    }
    this.send([...keys, KEY.enter])
  }

  private cursor(lines: string[]): number {
    return lines.findIndex((l) => l.trimStart().startsWith('❯'))
  }

  private lineOf(lines: string[], text: string): number {
    const i = lines.findIndex((l) => l.includes(text))
    if (i < 0) throw new Error(`no option with "${text}" in:\n${lines.join('\n')}`)
    return i
  }

  private moves(lines: string[], text: string): string[] {
    const delta = this.lineOf(lines, text) - this.cursor(lines)
    return new Array(Math.abs(delta)).fill(delta > 0 ? KEY.down : KEY.up)
  }
}
