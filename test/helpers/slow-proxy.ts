import {createServer, type Server} from 'node:http'

/**
 * An HTTP proxy in front of the emulator that holds back the answer to one kind of AWS call (by its
 * X-Amz-Target, e.g. AmazonSSM.PutParameter) for `delayMs`: a call still unanswered when something happens, as
 * on a slow network. The call itself reaches the emulator at once and takes effect there.
 */
export async function slowProxy(endpoint: string, target: string, delayMs: number): Promise<{url: string; seen: Promise<void>; close(): Promise<void>}> {
  let sawIt!: () => void
  const seen = new Promise<void>((resolve) => (sawIt = resolve))
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', async () => {
      const headers = Object.fromEntries(Object.entries(request.headers).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'host'))
      const answer = await fetch(`${endpoint}${request.url}`, {method: request.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined})
      const body = Buffer.from(await answer.arrayBuffer())
      if (request.headers['x-amz-target'] === target) {
        sawIt()
        await new Promise((r) => setTimeout(r, delayMs))
      }
      response.writeHead(answer.status, {'content-type': answer.headers.get('content-type') ?? 'application/octet-stream'})
      response.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  return {url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve()))}
}
