import {createHash} from 'node:crypto'
import {createSocket} from 'node:dgram'
import {readFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'

export const HTTP_PORT = 80
export const HTTPS_PORT = 443
export const ECHO_PORT = 7

/** The bytes /bytes/N sends: a pattern of period 256, so that a receiver can check what arrived. */
const PATTERN = Buffer.from(Array.from({length: 65_536 + 256}, (_, i) => (i * 7) & 0xff))
const pattern = (offset: number, length: number) => PATTERN.subarray(offset % 256, (offset % 256) + length)

const TICK_MS = 50

/**
 * /bytes/N?rate=R: R bytes a second, sent as the seconds pass. A transfer paced by the client instead would
 * sit in the client's receive buffer long before it is read, and no longer cross the network when it is.
 */
function paced(res: ServerResponse, total: number, rate: number): void {
  const started = Date.now()
  let sent = 0
  const timer = setInterval(() => {
    const due = Math.min(total, Math.round(((Date.now() - started) / 1000) * rate))
    if (due > sent && res.writableLength < rate) {
      res.write(pattern(sent, Math.min(65_536, due - sent)))
      sent += Math.min(65_536, due - sent)
    }
    if (sent >= total) {
      clearInterval(timer)
      res.end()
    }
  }, TICK_MS)
  res.once('close', () => clearInterval(timer))
}

/**
 * The lab's "internet" host: HTTP on port 80 (and HTTPS on 443) (`/` says which address the request came from — an appliance's
 * egress address in two-arm mode; `/id` answers as `id` run by root does; `/bytes/N` sends N bytes, `?rate=R` at R bytes a second; a POST answers the
 * length and SHA-256 of its body) and a UDP echo on port 7, over IPv4 and IPv6. ICMP echo is the kernel's.
 */
export async function serveInternet(log: (line: string) => void): Promise<() => void> {
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const from = req.socket.remoteAddress?.replace(/^::ffff:/, '')
    if (req.method === 'POST') {
      const hash = createHash('sha256')
      let received = 0
      req.on('data', (d: Buffer) => ((received += d.length), hash.update(d)))
      req.on('end', () => res.writeHead(200, {'content-type': 'application/json'}).end(`${JSON.stringify({from, received, sha256: hash.digest('hex')})}\n`))
      return
    }
    const url = new URL(req.url ?? '/', 'http://internet')
    // What an inspection engine's rules look for: a command's answer as root (the test of testmynids.org).
    if (url.pathname === '/id') return void res.writeHead(200, {'content-type': 'text/plain'}).end('uid=0(root) gid=0(root) groups=0(root)\n')
    const bytes = /^\/bytes\/(\d{1,10})$/.exec(url.pathname)
    if (!bytes) return void res.writeHead(200, {'content-type': 'text/plain'}).end(`hello from the internet: you came from ${from}\n`)
    const total = Number(bytes[1])
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': total})
    const rate = Number(url.searchParams.get('rate')) || 0
    if (rate > 0) return paced(res, total, rate)
    let sent = 0
    const more = () => {
      while (sent < total) {
        const chunk = pattern(sent, Math.min(65_536, total - sent))
        sent += chunk.length
        if (!res.write(chunk)) return void res.once('drain', more)
      }
      res.end()
    }
    more()
  }
  const http = createServer(answer)
  // HTTPS with a test certificate for any name under .test (clients take it with -k): what the egress policy's
  // domain rules read is the name in the TLS ClientHello (SNI).
  const https = createHttpsServer({key: readFileSync(new URL('../../assets/lab-tls.key', import.meta.url)), cert: readFileSync(new URL('../../assets/lab-tls.crt', import.meta.url))}, answer)
  // One socket for both families: IPv4 arrives mapped into IPv6, and the answer goes back the same way.
  const echo = createSocket('udp6')
  echo.on('message', (msg, from) => echo.send(msg, from.port, from.address))
  await Promise.all([
    new Promise<void>((resolve) => http.listen(HTTP_PORT, resolve)),
    new Promise<void>((resolve) => https.listen(HTTPS_PORT, resolve)),
    new Promise<void>((resolve) => echo.bind(ECHO_PORT, resolve)),
  ])
  log(`internet: HTTP on :${HTTP_PORT}, HTTPS on :${HTTPS_PORT}, UDP echo on :${ECHO_PORT}`)
  return () => {
    http.close()
    https.close()
    echo.close()
  }
}
