import {readdir, readFile, stat} from 'node:fs/promises'
import {dirname, join, relative} from 'node:path'
import {create} from 'tar'
import {exists} from './files.js'

interface Manifest {
  name: string
  version: string
  files?: string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, {optional?: boolean}>
}

const readManifest = async (dir: string) => JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest

/** Where Node would find package `name` when required from `from`: the nearest node_modules up to the root. */
async function resolvePackage(root: string, from: string, name: string): Promise<string | undefined> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (await exists(join(candidate, 'package.json'))) return candidate
    if (dir === root || relative(root, dir).startsWith('..')) return undefined
  }
}

/** The package directories the root needs at run time: its dependencies and theirs, never devDependencies. */
async function productionPackages(root: string): Promise<string[]> {
  const found = new Set<string>()
  const visit = async (from: string, manifest: Manifest) => {
    const optional = new Set([
      ...Object.keys(manifest.optionalDependencies ?? {}),
      ...Object.entries(manifest.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([name]) => name),
    ])
    const names = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), ...optional])
    for (const name of names) {
      const dir = await resolvePackage(root, from, name)
      if (!dir) {
        if (optional.has(name)) continue
        throw new Error(`${name}, needed by ${manifest.name}, is not installed under ${root}: run npm ci there`)
      }
      if (found.has(dir)) continue
      found.add(dir)
      await visit(dir, await readManifest(dir))
    }
  }
  await visit(root, await readManifest(root))
  return [...found]
}

/** Every file under `dir`, but not in its node_modules (those packages are listed on their own). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true})
  const nested = await Promise.all(entries.map(async (e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : filesUnder(path)
    return e.isFile() || e.isSymbolicLink() ? [path] : []
  }))
  return nested.flat()
}

/** A fixed date for every entry: the same files always make the same tarball, and so the same digest. */
const EPOCH = new Date('2000-01-01T00:00:00Z')

/**
 * Packs the package at `root` the way `npm pack` would with every dependency bundled (package.json `files`,
 * plus the production node_modules), into `out`. Entries are sorted and dated alike, so that an unchanged
 * installation packs to the same bytes; `npm pack` takes a minute over the bundled tree, this a few seconds.
 */
export async function packInstallation(root: string, out: string): Promise<void> {
  const manifest = await readManifest(root)
  const own = ['package.json', ...(manifest.files ?? [])]
  for (const optional of ['README.md', 'LICENSE']) if (await exists(join(root, optional))) own.push(optional)
  const paths: string[] = []
  for (const entry of own) {
    if (/[*?[{]/.test(entry)) throw new Error(`package.json files entry ${entry}: globs are not packed, name the file or folder`)
    const full = join(root, entry)
    const info = await stat(full).catch(() => undefined)
    if (!info) throw new Error(`${full} is missing: build the package first (npm run build)`)
    paths.push(...(info.isDirectory() ? await filesUnder(full) : [full]))
  }
  for (const dir of await productionPackages(root)) paths.push(...(await filesUnder(dir)))
  const entries = [...new Set(paths.map((p) => relative(root, p)))].sort()
  await create({gzip: {level: 9}, file: out, cwd: root, prefix: 'package', portable: true, mtime: EPOCH, noDirRecurse: true}, entries)
}
