#!/usr/bin/env node
// The test run (`npm test` after the build, and .ci/run): the suites in two lanes at once, then the closing figures.
//   provisioning: unit, CLI and AWS-emulator tests (CPU-bound: each test runs the real binary), and a few
//                 namespace files that even out the lanes;
//   data plane:   the network-namespace tests (mostly waiting on packets and timers), then the data-path suite
//                 again with --datapath bpf on every appliance.
// Each lane has its own vitest process and so its own moto server; namespaces are named by process, so the
// lanes never meet. What differs by Node.js version (the native module, worker threads, the SDK's HTTP, oclif,
// the lab's processes) runs on each line given (e.g. 22,24), at once: `--node-lines=` after the data plane lane,
// `--only-node-lines=` alone.
// Prints each lane's output as it ends, the 15 slowest tests, and one "tests: N passed, N failed" line.
import {spawn} from 'node:child_process'
import {createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {stripVTControlCharacters} from 'node:util'

const root = new URL('..', import.meta.url).pathname
const reports = process.env.GWLB_TEST_LOGS ?? mkdtempSync(join(tmpdir(), 'gwlb-test-reports-'))
mkdirSync(reports, {recursive: true})
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')

/** The netns files whose appliances take the data path from GWLB_TEST_DATAPATH (and do not pin one). */
function dataPathSuite() {
  const dir = join(root, 'test', 'netns')
  return readdirSync(dir).filter((f) => f.endsWith('.test.ts')).filter((f) => {
    const text = readFileSync(join(dir, f), 'utf8')
    return /helpers\/(running-appliance|appliance-bed)\.js/.test(text) && !text.includes("'--datapath', 'bpf'")
  }).map((f) => `test/netns/${f}`)
}

/** Each run's label, exit status and output, for the closing lines. */
const finished = []

/** One vitest process; resolves with its exit status once its output has been printed whole. */
function run(label, files, {env = {}, node = [process.execPath]} = {}) {
  const report = join(reports, `${label.replace(/\W+/g, '-')}.json`)
  const child = spawn(node[0], [...node.slice(1), vitest, 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile=${report}`], {
    cwd: root, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Also as it comes, in the reports' folder: what a run that is cut off had said (GWLB_TEST_LOGS keeps it).
  const live = createWriteStream(join(reports, `${label.replace(/\W+/g, '-')}.log`))
  let output = ''
  child.stdout.on('data', (d) => ((output += d), live.write(d)))
  child.stderr.on('data', (d) => ((output += d), live.write(d)))
  const started = Date.now()
  return new Promise((resolve) => child.once('close', (status) => {
    process.stdout.write(`\n===== ${label}: exit ${status} after ${Math.round((Date.now() - started) / 1000)} s =====\n${output}`)
    finished.push({label, status, output})
    resolve(status)
  }))
}

/** Several lanes at once; each lane's steps one after another, a step being one run or a list of runs at once. */
async function lanes(...list) {
  const statuses = await Promise.all(list.map(async (lane) => {
    const out = []
    for (const step of lane) out.push(...(await Promise.all((typeof step[0] === 'string' ? [step] : step).map((r) => run(...r)))))
    return out
  }))
  return statuses.flat()
}

function summary() {
  const tests = []
  for (const file of readdirSync(reports).filter((f) => f.endsWith('.json'))) {
    const lane = file.replace(/\.json$/, '')
    const data = JSON.parse(readFileSync(join(reports, file), 'utf8'))
    for (const f of data.testResults)
      for (const t of f.assertionResults) tests.push({lane, file: f.name.replace(root, ''), title: t.fullName ?? t.title, status: t.status, ms: t.duration ?? 0})
  }
  console.log('\n15 slowest tests:')
  for (const t of [...tests].sort((a, b) => b.ms - a.ms).slice(0, 15)) console.log(`  ${(t.ms / 1000).toFixed(1).padStart(6)} s  ${t.lane}  ${t.file} › ${t.title}`)
  const failed = tests.filter((t) => t.status === 'failed')
  for (const t of failed) console.log(`  FAILED ${t.lane}  ${t.file} › ${t.title}`)
  // The node-line passes skip, by design, what they run once only (the lab's failover and crash tests).
  for (const t of tests.filter((t) => t.status !== 'passed' && t.status !== 'failed' && !t.lane.startsWith('node-'))) console.log(`  ${t.status.toUpperCase()} ${t.lane}  ${t.file} › ${t.title}`)
  // A lane can fail with every test passed (an unhandled error, a worker that timed out): say why, last, where a
  // cut-off log still shows it.
  for (const {label, status, output} of finished.filter((f) => f.status !== 0)) {
    const why = stripVTControlCharacters(output).split('\n').filter((l) => /Unhandled|Error|Timeout|FAIL/.test(l)).slice(0, 15)
    console.log(`lane ${label} exited ${status}:\n${why.map((l) => `  | ${l.trim()}`).join('\n') || '  | (no error line in its output)'}`)
  }
  const passed = tests.filter((t) => t.status === 'passed').length
  const skipped = tests.filter((t) => t.status !== 'passed' && t.status !== 'failed').length
  console.log(`tests: ${passed} passed, ${failed.length} failed, ${skipped} skipped (of which the node lines' run-once tests: ${tests.filter((t) => t.lane.startsWith('node-') && t.status === 'skipped').length})`)
}

const linesOf = (flag) => process.argv.find((a) => a.startsWith(`${flag}=`))?.split('=')[1]?.split(',').filter(Boolean)
const perLine = ['test/unit', 'test/cli.test.ts', 'test/aws/init.test.ts', 'test/netns/gwlb-lab.test.ts']
/** The runs of what differs by Node.js line, one per line given. */
const nodeLineRuns = (lines) => lines.map((line) => [`node ${line}`, perLine, {node: ['npx', '-y', '-p', `node@${line}`, '--', 'node'], env: {GWLB_TEST_NODE_LINE: line}}])
const onlyLines = linesOf('--only-node-lines')
// --node-lines (CI): the lines too, at once, in the data plane lane once its own runs are done (it ends minutes
// before the provisioning lane, which is the longer one).
const alsoLines = linesOf('--node-lines') ?? []
let statuses
if (onlyLines) {
  statuses = await lanes(...nodeLineRuns(onlyLines).map((r) => [r]))
} else {
  // The data plane lane runs the bpf suite after its own, so these namespace files (~2 min, none bpf-only) run in
  // the provisioning lane instead: both lanes then end within a minute of each other.
  const balanced = ['package', 'lifecycle', 'security', 'first-boot', 'policy-sync'].map((f) => `test/netns/${f}.test.ts`)
  const netns = readdirSync(join(root, 'test', 'netns')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/netns/${f}`)
  statuses = await lanes(
    [['provisioning', ['test/unit', 'test/aws', 'test/cli.test.ts', 'test/appliance-install.test.ts', ...balanced]]],
    [['data plane', netns.filter((f) => !balanced.includes(f))], ['data plane, --datapath bpf', dataPathSuite(), {env: {GWLB_TEST_DATAPATH: 'bpf'}}], ...(alsoLines.length ? [nodeLineRuns(alsoLines)] : [])],
  )
}
summary()
if (!process.env.GWLB_TEST_LOGS) rmSync(reports, {recursive: true, force: true})
process.exit(statuses.every((s) => s === 0) ? 0 : 1)
