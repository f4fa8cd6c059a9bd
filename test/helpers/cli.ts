import {spawnSync} from 'node:child_process'

/** Runs the built gwlb CLI to its end, as a user's shell would. */
export function gwlb(args: string[], env: Record<string, string> = {}): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync('./bin/run.js', args, {encoding: 'utf8', env: {...process.env, NO_COLOR: '1', CI: 'true', ...env}, timeout: 120_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

export function gwlbJson<T>(args: string[]): T {
  const r = gwlb([...args, '--json'])
  if (r.status !== 0) throw new Error(`gwlb ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`)
  return JSON.parse(r.stdout) as T
}
