import {spawn, spawnSync} from 'node:child_process'
import {stripVTControlCharacters} from 'node:util'

/** The CLI's environment: the test's, without colour, as in CI; an `env` value of undefined unsets that variable. */
const cliEnv = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries({...process.env, NO_COLOR: '1', CI: 'true', ...env}).filter((e): e is [string, string] => e[1] !== undefined))

/** Runs the built gwlb CLI to its end, as a user's shell would. */
export function gwlb(args: string[], env: Record<string, string | undefined> = {}): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync('./bin/run.js', args, {encoding: 'utf8', env: cliEnv(env), timeout: 120_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

export function gwlbJson<T>(args: string[]): T {
  const r = gwlb([...args, '--json'])
  if (r.status !== 0) throw new Error(`gwlb ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`)
  return JSON.parse(r.stdout) as T
}

/**
 * gwlb() without blocking this process, for tests that serve what the CLI talks to; `signalAfter`: Ctrl-C
 * (SIGINT) as soon as its output (stdout and stderr) matches; `onOutput`: told the output so far as it grows;
 * `kill`: SIGKILL once aborted (a test's clean-up).
 */
export async function gwlbAsync(
  args: string[], env: Record<string, string | undefined> = {}, options: {signalAfter?: RegExp; onOutput?: (output: string) => void; kill?: AbortSignal} = {},
): Promise<{status: number | null; stdout: string; stderr: string}> {
  const child = spawn('./bin/run.js', args, {env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe']})
  options.kill?.addEventListener('abort', () => child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  let signalled = false
  const watch = () => {
    options.onOutput?.(stdout + stderr)
    if (options.signalAfter && !signalled && options.signalAfter.test(stdout + stderr)) signalled = child.kill('SIGINT')
  }
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), watch()))
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), watch()))
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return {status, stdout, stderr}
}

/**
 * gwlb on a pseudo-terminal (test/fixtures/terminal.py), as a person runs it: Ctrl-C, typed once the screen matches
 * `ctrlCAfter` (or once `ctrlCWhen` resolves), reaches its whole process group, children included; Enter is
 * typed once the screen matches `enterAfter`.
 */
export async function gwlbInTerminal(
  args: string[], options: {ctrlCAfter?: RegExp; ctrlCWhen?: Promise<unknown>; enterAfter?: RegExp; env?: Record<string, string | undefined>} = {},
): Promise<{status: number | null; screen: string}> {
  const {NO_COLOR: _, CI: __, ...env} = cliEnv({TERM: 'xterm-256color', ...options.env})
  const child = spawn('python3', ['test/fixtures/terminal.py', './bin/run.js', ...args], {env, stdio: ['pipe', 'pipe', 'inherit']})
  let screen = ''
  let typed = false
  const ctrlC = () => {
    if (!typed) child.stdin.write('ctrl-c\n')
    typed = true
  }
  void options.ctrlCWhen?.then(ctrlC)
  let entered = false
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString()
    if (options.ctrlCAfter?.test(stripVTControlCharacters(screen))) ctrlC()
    if (!entered && options.enterAfter?.test(stripVTControlCharacters(screen))) {
      entered = true
      child.stdin.write('enter\n')
    }
  })
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return {status, screen: stripVTControlCharacters(screen)}
}
