import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {TestProject} from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string
    /** Where the emulator writes what it cannot show through AWS's API (lifecycle actions completed), one JSON line each. */
    motoRecords: string
  }
}

const launcher = fileURLToPath(new URL('../fixtures/moto_gwlb_server.py', import.meta.url))

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

async function waitUntilAnswering(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto server exited with code ${child.exitCode} before answering`)
    try {
      const response = await fetch(`${url}/moto-api/data.json`)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`moto server did not answer at ${url} within ${timeoutMs} ms`)
}

/**
 * Starts one moto server (extended with the GWLB calls it lacks) for the whole test run, on a free loopback
 * port, and stops it at the end. Test files reach it through `useMoto()` in test/helpers/moto.ts.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (spawnSync('python3', ['-c', 'import moto.server'], {stdio: 'ignore'}).status !== 0)
    throw new Error("moto's server is not installed for python3: run `pip install 'moto[server]'` and re-run the tests")
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const stderr: string[] = []
  const records = join(tmpdir(), `gwlb-moto-${port}.jsonl`)
  const child = spawn('python3', [launcher, '-H', '127.0.0.1', '-p', String(port)], {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, GWLB_MOTO_RECORDS: records}})
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()))
  try {
    await waitUntilAnswering(url, child, 30_000)
  } catch (error) {
    child.kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n${stderr.join('').slice(-2000)}`)
  }
  project.provide('motoEndpoint', url)
  project.provide('motoRecords', records)
  return async () => {
    rmSync(records, {force: true})
    if (child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}
