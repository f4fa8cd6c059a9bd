/**
 * A lab node's service, started by `gwlb lab up` in that node's namespace, detached, its output in the lab's
 * folder: `daemon.js stand-in CONFIG_JSON` (the GWLB node) or `daemon.js internet`. SIGTERM ends it.
 */
import {serveInternet} from './internet.js'
import {StandIn, type StandInConfig} from './stand-in.js'

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)

async function main(role: string | undefined, config: string | undefined): Promise<() => void> {
  if (role === 'internet') return serveInternet(log)
  if (role === 'stand-in' && config) {
    const standIn = new StandIn(JSON.parse(config) as StandInConfig, log)
    await standIn.start()
    log('GWLB stand-in: ready')
    return () => standIn.stop()
  }
  throw new Error('usage: daemon.js internet | stand-in CONFIG_JSON')
}

main(process.argv[2], process.argv[3]).then(
  (stop) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.once(signal, () => {
        stop()
        log(`${signal}: stopped`)
        process.exit(0)
      })
  },
  (error: Error) => {
    log(`failed: ${error.message}`)
    process.exit(1)
  },
)
