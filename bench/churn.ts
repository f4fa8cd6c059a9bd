/**
 * `npm run bench:churn` (root): many GWLB endpoints at once. `gwlb appliance run` in network namespaces gets
 * the first packet of N new endpoints (default 250; 255 tunnels fit) in one burst, while the GWLB side asks
 * its health port every `--probe-ms`. Prints how long until every endpoint's tunnel was up and its packet
 * back, the memory that took, the slowest and median health answers meanwhile, then how long a SIGTERM takes
 * with all tunnels up and, in a second run, while they are still being made.
 * Options: --endpoints N (250), --mode one-arm|two-arm (one-arm), --probe-ms (1000).
 */
import {readFileSync} from 'node:fs'
import {parseArgs} from 'node:util'
import {ApplianceBed, INTERNET_IP} from '../test/helpers/appliance-bed.js'
import {icmpEcho} from '../test/helpers/packets.js'

const {values: opts} = parseArgs({options: {endpoints: {type: 'string', default: '250'}, mode: {type: 'string', default: 'one-arm'}, 'probe-ms': {type: 'string', default: '1000'}}})
const count = Number(opts.endpoints)
const probeMs = Number(opts['probe-ms'])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sends each endpoint's first packet (a client of its own behind each), all at once. */
function burst(bed: ApplianceBed): void {
  for (let i = 0; i < count; i++)
    bed.send({eni: (0xd000 + i).toString(16).padStart(16, '0')}, icmpEcho({src: `10.220.${i >> 8}.${i & 0xff}`, dst: INTERNET_IP}, 8, i))
}

function memAvailableMb(): number {
  return Math.round(Number(/^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024)
}

/** SIGTERM, and how long until the appliance has exited (no kill -9 after a while, as the test bed has). */
async function stopTiming(bed: ApplianceBed): Promise<string> {
  const child = bed.process!
  const started = Date.now()
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const code = await exited
  return `${Date.now() - started} ms (exit code ${code})`
}

async function run(): Promise<void> {
  const bed = new ApplianceBed()
  try {
    await bed.setUp()
    await bed.start('--mode', opts.mode!, '--max-tunnels', String(count))
    const availableBefore = memAvailableMb()
    const started = Date.now()
    burst(bed)
    const replies = (async () => {
      for (let i = 0; i < count; i++) await bed.reply(() => true, 180_000)
      return Date.now() - started
    })()
    const answers: number[] = []
    let done: number | undefined
    void replies.then((ms) => (done = ms))
    while (done === undefined && Date.now() - started < 180_000) {
      const asked = Date.now()
      const health = await bed.health()
      answers.push(health.status === 200 ? Date.now() - asked : Infinity)
      await sleep(probeMs)
    }
    answers.sort((a, b) => a - b)
    console.log(`${count} new endpoints (${opts.mode}): every tunnel up and its first packet back after ${done} ms`)
    console.log(`memory taken with ${count} tunnels up (the machine's MemAvailable, kernel and appliance): ${availableBefore - memAvailableMb()} MB`)
    console.log(`health answers meanwhile: ${answers.length}, median ${answers[answers.length >> 1]} ms, slowest ${answers.at(-1)} ms`)
    console.log(`SIGTERM with ${count} tunnels up: exit after ${await stopTiming(bed)}`)

    await bed.start('--mode', opts.mode!, '--max-tunnels', String(count))
    burst(bed)
    await sleep(1000)
    console.log(`SIGTERM 1 s into the set-up of ${count} tunnels: exit after ${await stopTiming(bed)}`)
  } finally {
    await bed.cleanup()
  }
}

await run()
