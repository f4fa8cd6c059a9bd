import {realpathSync} from 'node:fs'
import {delimiter, isAbsolute, join, relative} from 'node:path'

const real = (path: string) => {
  try {
    return realpathSync(path)
  } catch {
    return undefined
  }
}

/**
 * How to type this gwlb again, for the hints it prints: `gwlb` where that name on the PATH is this very
 * program, else the path it was started by (`./bin/run.js` from a clone).
 */
export function invokedAs(): string {
  const script = process.argv[1]
  if (!script) return 'gwlb'
  const self = real(script)
  if ((process.env.PATH ?? '').split(delimiter).some((dir) => dir && real(join(dir, 'gwlb')) === self)) return 'gwlb'
  const rel = relative(process.cwd(), script)
  return rel.startsWith('..') || isAbsolute(rel) ? script : `./${rel}`
}
