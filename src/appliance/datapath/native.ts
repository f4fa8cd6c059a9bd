import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import type {Native} from '../../generated/abi.js'
import {UserError} from '../../errors.js'

export type {Native, Watch} from '../../generated/abi.js'

/** The package root, at the same depth from src/appliance/datapath (sources) and from dist/… (build). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../..', import.meta.url))

let loaded: Native | undefined

export function native(): Native {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  const load = require('node-gyp-build') as (root: string) => Native
  try {
    // A local build (build/Release) if there is one, else the package's prebuild for this platform and CPU.
    loaded = load(PACKAGE_ROOT)
  } catch (error) {
    throw new UserError(
      `The data-plane module cannot be loaded (${(error as Error).message.split('\n')[0]})`,
      'this package has prebuilds for linux-x64 and linux-arm64; elsewhere run `npm rebuild gwlb` with make, g++ and python3 installed',
    )
  }
  return loaded
}

/** errno-style errors from the native module carry the errno number as their code. */
export function errnoOf(error: unknown): number {
  return Number((error as {code?: string}).code ?? NaN)
}
