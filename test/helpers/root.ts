import {describe} from 'vitest'

export const isRoot = process.getuid?.() === 0

/**
 * `describe` for tests that need root (namespaces, TUN, rules). Not root: skipped with the reason printed;
 * under CI a skip would hide a broken bed, so it fails instead.
 */
export const describeAsRoot = (() => {
  if (isRoot) return describe as typeof describe.skip
  const reason = 'needs root (network namespaces, TUN devices, nftables): run the tests with sudo'
  if (process.env.CI) throw new Error(`CI=true but the test run is not root; ${reason}`)
  console.warn(`skipped: ${reason}`)
  return describe.skip
})()
