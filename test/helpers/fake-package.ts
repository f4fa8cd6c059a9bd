import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {create} from 'tar'

interface Contents {
  name?: string
  version?: string
  dependencies?: Record<string, string>
  /** Platforms with a data-plane prebuild (prebuilds/<platform>/gwlb.node). */
  prebuilds?: string[]
}

/** A package tarball with just the parts init checks before it stages one (name, bundled dependencies, prebuilds). */
export function makePackage({name = 'gwlb', version = '0.0.0-test', dependencies = {}, prebuilds = ['linux-x64']}: Contents = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gwlb-fake-package-'))
  mkdirSync(join(dir, 'package'))
  writeFileSync(join(dir, 'package/package.json'), JSON.stringify({name, version, dependencies}))
  for (const platform of prebuilds) {
    mkdirSync(join(dir, 'package/prebuilds', platform), {recursive: true})
    writeFileSync(join(dir, 'package/prebuilds', platform, 'gwlb.node'), 'not a real module')
  }
  create({gzip: true, sync: true, cwd: dir, file: join(dir, 'package.tgz')}, ['package'])
  return join(dir, 'package.tgz')
}

let made: string | undefined

/**
 * A small package that passes init's checks of what it stages without being gwlb: the emulator tests stage it
 * instead of packing the whole tree on every init. The package itself is tested by test/netns/package.test.ts.
 */
export function fakePackage(): string {
  made ??= makePackage()
  return made
}
