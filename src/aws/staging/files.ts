import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {UserError} from '../../errors.js'

export const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false)

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** `npm pack SPEC` into `dir` (through the user's npm configuration and cache); the tarball's path. */
export async function npmPack(spec: string, dir: string): Promise<string> {
  try {
    const {stdout} = await promisify(execFile)('npm', ['pack', spec, '--json', '--ignore-scripts', '--prefer-offline', '--pack-destination', dir], {maxBuffer: 64 << 20})
    const [result] = JSON.parse(stdout) as {filename: string}[]
    return join(dir, result!.filename)
  } catch (error) {
    const reason = ((error as {stderr?: string}).stderr ?? (error as Error).message).split('\n').find((l) => /error/i.test(l)) ?? (error as Error).message
    throw new UserError(`npm could not fetch ${spec}: ${reason.trim()}`, 'check the package spec and your npm registry access (npm ping), or pass --package with a local .tgz')
  }
}
