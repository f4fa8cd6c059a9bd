/**
 * `npm run bench:lab` (root): how long the lab takes to come up and go down, how long a failover takes with the
 * target group's health-check timing and with the fastest the lab allows, and what one TCP download through
 * the stand-in and an appliance carries, for each mode. Runs the real gwlb binary, as a user does.
 * Options: --appliances N (2), --megabytes M (200, the download).
 */
import {execFileSync} from 'node:child_process'
import {parseArgs} from 'node:util'

const {values: opts} = parseArgs({options: {appliances: {type: 'string', default: '2'}, megabytes: {type: 'string', default: '200'}}})
const lab = ['--name', `bench${process.pid % 10_000}`]

function gwlb(...args: string[]): string {
  return execFileSync(process.execPath, ['bin/run.js', 'lab', ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

function timed<T>(what: () => T): [T, number] {
  const started = process.hrtime.bigint()
  const result = what()
  return [result, Number(process.hrtime.bigint() - started) / 1e9]
}

/** Until the stand-in has every appliance healthy (the target group's thresholds take a while). */
function untilHealthy(): void {
  const healthy = () => (JSON.parse(gwlb('status', ...lab, '--json')) as {appliances: {state: string}[]}).appliances.every((a) => a.state === 'healthy')
  while (!healthy()) execFileSync('sleep', ['0.2'])
}

function failover(mode: string, label: string, health: string[]): void {
  const [, up] = timed(() => gwlb('up', ...lab, '--mode', mode, '--appliances', opts.appliances!, ...health))
  try {
    const bytes = Number(opts.megabytes) * 1_000_000
    const speed = gwlb('exec', ...lab, 'client', '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{speed_download}', `http://198.18.0.10/bytes/${bytes}`)
    untilHealthy()
    const failed = JSON.parse(gwlb('fail', ...lab, 'appliance-1', '--wait', '--json')) as {seconds: number}
    const healed = JSON.parse(gwlb('heal', ...lab, 'appliance-1', '--wait', '--json')) as {seconds: number}
    console.log(`${mode.padEnd(8)} health checks ${label}: ` +
      `up ${up.toFixed(1)} s; one TCP download ${(Number(speed) * 8 / 1e6).toFixed(0)} Mbit/s; ` +
      `unhealthy ${failed.seconds.toFixed(1)} s after its data plane stopped; healthy ${healed.seconds.toFixed(1)} s after it started`)
  } finally {
    const [, down] = timed(() => gwlb('down', ...lab))
    console.log(`${''.padEnd(8)} down ${down.toFixed(1)} s`)
  }
}

console.log(`gwlb lab with ${opts.appliances} appliance(s), ${opts.megabytes} MB download:`)
for (const mode of ['two-arm', 'one-arm']) failover(mode, 'every 1 s, thresholds 2/2', ['--health-interval', '1', '--healthy-threshold', '2', '--unhealthy-threshold', '2'])
failover('two-arm', 'as the target group (every 10 s, thresholds 3/3)', [])
