import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {create} from 'tar'

let made: string | undefined

/**
 * A small package that passes init's checks of what it stages (named gwlb, dependencies bundled, a
 * linux-x64 prebuild) without being one: the emulator tests stage it instead of packing the whole tree
 * on every init. The package itself is tested by test/netns/delivery.test.ts.
 */
export function fakePackage(): string {
  if (made) return made
  const dir = mkdtempSync(join(tmpdir(), 'gwlb-fake-package-'))
  mkdirSync(join(dir, 'package/prebuilds/linux-x64'), {recursive: true})
  writeFileSync(join(dir, 'package/package.json'), JSON.stringify({name: 'gwlb', version: '0.0.0-test', dependencies: {}}))
  writeFileSync(join(dir, 'package/prebuilds/linux-x64/gwlb.node'), 'not a real module')
  create({gzip: true, sync: true, cwd: dir, file: join(dir, 'gwlb-0.0.0-test.tgz')}, ['package'])
  made = join(dir, 'gwlb-0.0.0-test.tgz')
  return made
}
