import {rmSync} from 'node:fs'
import {mkdtemp, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {list} from 'tar'
import {UserError} from '../../errors.js'
import {npmPack, sha256File} from './files.js'
import {packInstallation} from './pack.js'
import {nodeArch, type Architecture} from './runtime.js'

/** A gwlb package ready to be staged: a tarball an appliance unpacks and runs as it is. */
export interface GwlbPackage {
  file: string
  version: string
  sha256: string
}

/** What the tarball holds, read without unpacking it. */
async function contents(file: string): Promise<{manifest: {name?: string; version?: string; dependencies?: Record<string, string>}; entries: Set<string>}> {
  const entries = new Set<string>()
  let manifestText = ''
  await list({
    file,
    onReadEntry: (entry) => {
      entries.add(entry.path)
      if (entry.path === 'package/package.json') entry.on('data', (chunk: Buffer) => (manifestText += chunk.toString()))
      else entry.resume()
    },
  })
  return {manifest: manifestText ? JSON.parse(manifestText) : {}, entries}
}

/**
 * Checks that an appliance can run the package with nothing but Node.js: it is gwlb, it bundles every
 * dependency (appliances reach no registry), and it carries the data-plane prebuild for their CPU.
 */
async function inspect(file: string, source: string, architecture: Architecture): Promise<GwlbPackage> {
  const {manifest, entries} = await contents(file).catch((error: Error) => {
    throw new UserError(`${source} is not a readable package tarball (${error.message})`, 'pass --package a .tgz made by npm pack, a tarball URL or an npm spec')
  })
  if (manifest.name !== 'gwlb' || !manifest.version) throw new UserError(`${source} is not a gwlb package (its name is ${manifest.name ?? 'missing'})`, 'pass --package a gwlb tarball')
  const unbundled = Object.keys(manifest.dependencies ?? {}).filter((d) => !entries.has(`package/node_modules/${d}/package.json`))
  if (unbundled.length)
    throw new UserError(`${source} does not bundle ${unbundled.join(', ')}: appliances install nothing from a registry`, 'pass a gwlb package packed with its bundled dependencies (gwlb ≥ 0.2)')
  const arch = nodeArch(architecture)
  if (![...entries].some((e) => e.startsWith(`package/prebuilds/linux-${arch}/`) && e.endsWith('.node')))
    throw new UserError(`${source} has no prebuilt data-plane module for linux-${arch}`, `run \`npm run prebuilds\` before packing (arm64 needs g++-aarch64-linux-gnu), or pick an instance type of another CPU`)
  return {file, version: manifest.version, sha256: await sha256File(file)}
}

/**
 * The package to stage for `--package` (a .tgz file, a tarball URL or an npm spec), or, without it, this very
 * installation of gwlb packed as it is.
 */
export async function resolvePackage(requested: string | undefined, installation: string, architecture: Architecture): Promise<GwlbPackage> {
  const dir = await mkdtemp(join(tmpdir(), 'gwlb-package-'))
  // The tarball is uploaded later in the run: the folder goes when the process does.
  process.once('exit', () => rmSync(dir, {recursive: true, force: true}))
  if (requested === undefined) {
    const file = join(dir, 'gwlb.tgz')
    await packInstallation(installation, file)
    return inspect(file, `this gwlb (${installation})`, architecture)
  }
  const local = await stat(requested).then((s) => s.isFile(), () => false)
  return inspect(local ? requested : await npmPack(requested, dir), requested, architecture)
}
