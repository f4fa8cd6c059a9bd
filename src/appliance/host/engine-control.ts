import {createConnection} from 'node:net'

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
