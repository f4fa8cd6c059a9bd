import {spawn} from 'node:child_process'
import type {TunnelNames} from './names.js'

export type HookEvent = 'CREATE' | 'DESTROY'

/** Longest a hook may take before the tunnel goes on without it. */
const HOOK_TIMEOUT_MS = 30_000

/**
 * Runs an --on-create/--on-destroy command as gwlbtun does: through the shell, with `CREATE|DESTROY`, the
 * ingress and egress interface names and the ENI id (17 hex digits) appended. Resolves with the exit code.
 */
export function runHook(command: string, event: HookEvent, names: TunnelNames, log: (m: string) => void): Promise<number | null> {
  const line = `${command} ${event} ${names.ingress} ${names.egress} ${names.eniHex}`
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', line], {stdio: ['ignore', 'inherit', 'inherit']})
    const timer = setTimeout(() => {
      log(`hook still running after ${HOOK_TIMEOUT_MS / 1000}s, going on without it: ${line}`)
      child.kill('SIGKILL')
    }, HOOK_TIMEOUT_MS)
    child.once('error', (error) => {
      clearTimeout(timer)
      log(`hook could not start: ${line}: ${error.message}`)
      resolve(null)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) log(`hook exited with ${code}: ${line}`)
      resolve(code)
    })
  })
}
