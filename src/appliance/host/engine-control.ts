import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {createConnection} from 'node:net'
import {replaceWhole} from './system.js'

/** One command on Suricata's control socket (its JSON protocol: a version hello, then the command); its answer. */
export async function engineCommand(socketPath: string, command: string, timeoutMs = 60_000): Promise<{return: string; message?: unknown}> {
  const socket = createConnection(socketPath)
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to ${command} within ${timeoutMs / 1000} s`)))
  let buffered = ''
  const answers: ((answer: {return: string; message?: unknown}) => void)[] = []
  const failed = new Promise<never>((_, reject) => {
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`the engine closed its control socket (${command})`)))
  })
  socket.on('data', (d: Buffer) => {
    buffered += d.toString()
    try {
      const answer = JSON.parse(buffered) as {return: string; message?: unknown}
      buffered = ''
      answers.shift()?.(answer)
    } catch {
      // not whole yet
    }
  })
  const ask = (message: object) => Promise.race([failed, new Promise<{return: string; message?: unknown}>((resolve) => {
    answers.push(resolve)
    // A command ends with a newline (without it the engine drops the connection).
    socket.write(`${JSON.stringify(message)}\n`)
  })])
  try {
    const hello = await ask({version: '0.2'})
    if (hello.return !== 'OK') throw new Error(`the engine refused the control protocol: ${JSON.stringify(hello.message)}`)
    return await ask({command})
  } finally {
    socket.destroy()
  }
}

/**
 * Replaces a rules file of the engine whole, then reloads the engine where it runs (one that is not up yet loads
 * the file as it starts). A reload that fails puts the old file back: the engine never drops to no rules.
 * Returns how to undo it.
 */
export async function putRules(file: string, socket: string | undefined, text: string): Promise<() => Promise<void>> {
  const before = await readFile(file, 'utf8').catch(() => '')
  const put = async (rules: string) => {
    await replaceWhole(file, rules)
    if (!socket || !existsSync(socket)) return
    const answer = await engineCommand(socket, 'reload-rules')
    if (answer.return !== 'OK') throw new Error(`the engine did not reload ${file}: ${JSON.stringify(answer.message)}`)
  }
  try {
    await put(text)
  } catch (error) {
    await put(before).catch(() => undefined)
    throw error
  }
  return () => put(before)
}
