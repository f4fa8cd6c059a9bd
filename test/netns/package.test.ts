import {execFile, execFileSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {list} from 'tar'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {packInstallation} from '../../src/aws/staging/pack.js'
import {sha256File} from '../../src/aws/staging/files.js'
import {ApplianceBed, INTERNET_IP, scratchDir} from '../helpers/appliance-bed.js'
import {icmpEcho, parseInner} from '../helpers/packets.js'
import {describeAsRoot} from '../helpers/root.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const COMPILERS = ['make', 'g++', 'gcc', 'cc', 'c++']
/** ELF e_machine of each CPU the package carries a prebuild for. */
const MACHINE = {'linux-x64': 62, 'linux-arm64': 183}

/** The newest glibc symbol version a shared object needs (Ubuntu 22.04, the appliances' AMI, has 2.35). */
function newestGlibc(file: string): number[] {
  const versions = [...execFileSync('objdump', ['-T', file], {encoding: 'utf8'}).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
  return versions.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!).at(-1)!
}

describeAsRoot('the package gwlb ships to its appliances', () => {
  let dir: string
  let tarball: string

  beforeAll(async () => {
    dir = scratchDir('gwlb-package-test-') // where the sandboxed appliance sees it
    tarball = join(dir, 'gwlb.tgz')
    await packInstallation(root, tarball)
  }, 60_000)
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('packs to the same bytes twice, so that an unchanged gwlb stages once', async () => {
    const again = join(dir, 'again.tgz')
    await packInstallation(root, again)
    expect(await sha256File(again)).toBe(await sha256File(tarball))
  }, 60_000)

  it('carries the data-plane module prebuilt for linux-x64 and linux-arm64, loadable on Ubuntu 22.04, and bundles every dependency', async () => {
    const entries: string[] = []
    await list({file: tarball, onReadEntry: (e) => entries.push(e.path)})
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {dependencies: Record<string, string>; bundleDependencies: true | string[]}
    // npm installs bundled dependencies from the tarball and asks no registry for them (npm may write `true` out as the list).
    const bundled = manifest.bundleDependencies === true ? Object.keys(manifest.dependencies) : manifest.bundleDependencies
    expect(bundled.sort()).toEqual(Object.keys(manifest.dependencies).sort())
    for (const dependency of Object.keys(manifest.dependencies)) expect(entries).toContain(`package/node_modules/${dependency}/package.json`)
    expect(entries.filter((e) => /node_modules\/(vitest|typescript|eslint|prebuildify)\//.test(e))).toEqual([])
    for (const [platform, machine] of Object.entries(MACHINE)) {
      const prebuild = join(root, 'prebuilds', platform, 'gwlb.node')
      expect(entries).toContain(`package/prebuilds/${platform}/gwlb.node`)
      expect(readFileSync(prebuild).readUInt16LE(18)).toBe(machine)
      expect(newestGlibc(prebuild)).toSatisfy(([major, minor]: number[]) => major! < 2 || (major === 2 && minor! <= 35))
    }
    expect(entries).toContain('package/native/tun_gso.h')
  })

  it('installs with make and g++ hidden, no registry and no devDependencies, and that install forwards GENEVE with health at 200', async () => {
    const shims = join(dir, 'shims')
    mkdirSync(shims)
    for (const tool of COMPILERS) {
      writeFileSync(join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> ${join(dir, 'compiler-calls')}\nexit 127\n`)
      chmodSync(join(shims, tool), 0o755)
    }
    const prefix = join(dir, 'prefix')
    // Asynchronously: a minute of spawnSync would starve the test worker's own messages to vitest.
    await promisify(execFile)('npm', ['install', '--global', '--prefix', prefix, '--offline', '--omit=dev', '--allow-scripts=gwlb', '--no-audit', '--no-fund', tarball], {
      env: {...process.env, PATH: `${shims}:${process.env.PATH}`}, maxBuffer: 16 << 20,
    })
    expect(existsSync(join(dir, 'compiler-calls'))).toBe(false)
    const installed = join(prefix, 'lib/node_modules/gwlb')
    expect(existsSync(join(installed, 'build'))).toBe(false) // nothing was compiled: the prebuild is what loads
    expect(readdirSync(join(installed, 'node_modules'))).not.toContain('vitest')

    const bed = new ApplianceBed(join(installed, 'bin/run.js'))
    try {
      await bed.setUp()
      expect(await bed.start('--mode', 'two-arm')).toContain(200)
      bed.send({eni: '2b8ee1d4db0c51c4'}, icmpEcho({src: '10.200.0.5', dst: INTERNET_IP}, 0x4242, 1))
      const inner = parseInner((await bed.reply()).payload.subarray(40))
      expect(inner).toMatchObject({protocol: 1, src: INTERNET_IP, dst: '10.200.0.5'})
      expect(inner.payload[0]).toBe(0) // echo reply
    } finally {
      await bed.cleanup()
    }
  }, 240_000)
})
