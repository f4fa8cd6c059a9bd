/**
 * `npm run bench:policy` (root): what an egress policy of N destination blocks costs to check and to put in
 * force — `gwlb policy check` as a whole process, then in a lab of two appliances `lab policy push` (check, the
 * file replaced, both appliances loading, checking and applying it) and each appliance's own nft apply (its log
 * line). Runs the real gwlb binary, as a user does. What a policy costs the forwarder: `npm run bench:forwarder --
 * --appliance-args="--policy FILE"`. Options: --blocks 1000,10000,100000, --repeat N (3; medians).
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

const {values: opts} = parseArgs({options: {blocks: {type: 'string', default: '1000,10000,100000'}, repeat: {type: 'string', default: '3'}}})
const lab = `bench${process.pid % 10_000}`
// Under /run: the lab's appliances may read it there.
const dir = mkdtempSync('/run/gwlb-bench-policy-')

const gwlb = (...args: string[]) => execFileSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})

function seconds(what: () => unknown): number {
  const started = process.hrtime.bigint()
  what()
  return Number(process.hrtime.bigint() - started) / 1e9
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** A deny list of n /24 blocks from 100.64.0.0/10 on (none of them the lab's), default allow. */
function policyFile(n: number, salt: number): string {
  const blocks = Array.from({length: n}, (_, i) => `${100 + (i >> 22)}.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${(i & 255)}/32`)
  const file = join(dir, `feed-${n}-${salt}.yaml`)
  writeFileSync(file, `# bench ${salt}\nversion: 1\ndefault: allow\nrules:\n  - name: feed\n    action: deny\n    destinations: [${blocks.join(', ')}]\n`)
  return file
}

/** The apply times the appliances logged for this version, in ms. */
function appliedMs(version: string): number[] {
  return ['appliance-1', 'appliance-2'].flatMap((node) =>
    [...readFileSync(`/run/gwlb-lab/${lab}/${node}.log`, 'utf8').matchAll(new RegExp(`policy ${version} in force: .* applied in (\\d+) ms`, 'g'))].map((m) => Number(m[1])))
}

const repeat = Number(opts.repeat)
gwlb('lab', 'up', '--name', lab)
try {
  console.log(`egress policy, a deny list of N blocks, medians of ${repeat}; lab of 2 appliances`)
  console.log('blocks    check (process)   lab policy push (both in force)   nft apply per appliance')
  for (const n of opts.blocks.split(',').map(Number)) {
    const check: number[] = []
    const push: number[] = []
    const apply: number[] = []
    for (let r = 0; r < repeat; r++) {
      // Each round a new version (the salt): an appliance does nothing for the one it runs already.
      const file = policyFile(n, r)
      check.push(seconds(() => gwlb('policy', 'check', file)))
      let version = ''
      push.push(seconds(() => (version = (JSON.parse(gwlb('lab', 'policy', 'push', '--name', lab, file, '--json')) as {sha256: string}).sha256.slice(0, 12))))
      apply.push(...appliedMs(version))
    }
    console.log(`${String(n).padStart(7)}   ${median(check).toFixed(2).padStart(9)} s   ${median(push).toFixed(2).padStart(25)} s   ${String(median(apply)).padStart(17)} ms`)
  }
} finally {
  gwlb('lab', 'down', '--name', lab)
  rmSync(dir, {recursive: true, force: true})
}
