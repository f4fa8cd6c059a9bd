/**
 * `npm run bench:forwarder` (root): packets/s and Mbit/s through `gwlb appliance run` in network namespaces,
 * beside plain kernel forwarding through the same namespaces in the same run.
 *
 *   gen (10.77.0.1: GWLB node and traffic source) ── app (10.77.0.2 | 198.18.0.1) ── sink (198.18.0.10)
 *
 * baseline: plain UDP from gen routed by app's kernel to sink; two-arm: GENEVE to app, decapsulated, NATed
 * out to sink; one-arm: GENEVE to app, through gwi-X → kernel → gwo-X, back to gen. Delivered packets are
 * counted where they end up; drops are read where they can happen (socket buffers, tunnel queues).
 * Options: --seconds N (5), --rate PPS (a loss sweep at that offered rate instead of flat out; repeatable),
 * --sizes 64,1400, --modes baseline,one-arm,two-arm, --datapaths tun,bpf (each mode through each),
 * --loss-at 0.8 (each appliance run also offered that share of plain forwarding's rate, for its loss; 0: not),
 * --flows 8, --workers N (the forwarder's data-plane threads; default one per CPU),
 * --appliance-args="…" (more `appliance run` flags),
 * --repeat N (each cell the median of N runs: ratios drift ±20% from run to run on shared machines),
 * --inner-ids fixed,counting (the traffic's shapes, each measured: the inner IPv4 IDs of a flow stay fixed, as
 * an unconnected socket's DF datagrams have them, so that no run of packets can be coalesced and every packet
 * goes through alone; or count up, as a connected socket or TCP numbers them, so that runs of a flow merge),
 * --endpoints N (1: GWLB endpoints with a tunnel each; the others' are idle, made first, so that the measured
 * one's policy rule comes after theirs: what many endpoints cost every packet),
 * --nic-gro (the appliance's side of the gen link works as a NIC with GRO does: NAPI in its own thread, GRO on;
 * for the kernel baseline as much as for the forwarder; needs ethtool),
 * --inspect off,ids,ips (each appliance run also with its inspection hook, and Suricata on it as the lab runs it:
 * af-packet on gwlb-mon, or NFQUEUE with --inspect-queues one per CPU; gwlb's example rules; its CPU shown),
 * --engine suricata|none (none: the hook with nothing attached, failing open: what the hook alone costs).
 */
import {execFileSync, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {suricataArgv, EXAMPLE_RULES, type IdsMode} from '../src/lab/ids.js'
import {Lab, type Host} from '../test/helpers/netns.js'
import {encapsulate, geneveHeader, udp} from '../test/helpers/packets.js'

const {values: opts} = parseArgs({
  options: {
    seconds: {type: 'string', default: '5'},
    rate: {type: 'string', multiple: true, default: []},
    sizes: {type: 'string', default: '64,1400'},
    modes: {type: 'string', default: 'baseline,one-arm,two-arm'},
    flows: {type: 'string', default: '8'},
    'memory-flows': {type: 'string', default: '100000'},
    workers: {type: 'string'},
    'appliance-args': {type: 'string', default: ''},
    repeat: {type: 'string', default: '1'},
    'inner-ids': {type: 'string', default: 'fixed,counting'},
    datapaths: {type: 'string', default: 'tun,bpf'},
    'loss-at': {type: 'string', default: '0.8'},
    'nic-gro': {type: 'boolean', default: false},
    endpoints: {type: 'string', default: '1'},
    inspect: {type: 'string', default: 'off'},
    engine: {type: 'string', default: 'suricata'},
  },
})
const ENI = {eni: '2b8ee1d4db0c51c4'}
const SECONDS = Number(opts.seconds)
const FLOWS = Number(opts.flows)
const sizes = opts.sizes.split(',').map(Number)
const modes = opts.modes.split(',')
const rates = opts.rate.length ? opts.rate.map(Number) : [0]
const shapes = opts['inner-ids'].split(',')
const datapaths = opts.datapaths.split(',')
const ENDPOINTS = Number(opts.endpoints)
const inspections = opts.inspect.split(',')
const QUEUES = Number(opts.workers ?? availableParallelism())

if (process.getuid?.() !== 0) {
  console.error('bench:forwarder needs root (network namespaces, TUN devices)')
  process.exit(1)
}

const root = new URL('..', import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), 'gwlb-bench-'))
const blast = join(work, 'blast')
execFileSync('cc', ['-O2', '-o', blast, join(root, 'bench', 'blast.c')])

const lab = new Lab()
const gen = lab.host('gen')
const app = lab.host('app')
const sink = lab.host('sink')
lab.link(gen, 'g0', '10.77.0.1/24', app, 'a0', '10.77.0.2/24')
lab.link(app, 'e0', '198.18.0.1/24', sink, 's0', '198.18.0.10/24')
gen.run('ip', 'route', 'add', '198.18.0.0/24', 'via', '10.77.0.2')
sink.run('ip', 'route', 'add', '10.77.0.0/24', 'via', '198.18.0.1')
app.run('ip', 'route', 'add', 'default', 'via', '198.18.0.10')
app.sysctl('net.ipv4.ip_forward', 1)
if (opts['nic-gro']) {
  // veth only takes packets into GRO when the sending side does no TSO; NAPI in a thread lets them gather.
  gen.run('ethtool', '-K', 'g0', 'tso', 'off')
  app.run('ethtool', '-K', 'a0', 'gro', 'on')
  app.run('sh', '-c', 'echo 1 > /sys/class/net/a0/threaded')
}

/** Inner UDP packets of `size` bytes (IP header included) to sink:9, one per flow (source port). */
function innerPackets(size: number): Buffer[] {
  return Array.from({length: FLOWS}, (_, i) => udp({src: '10.200.0.5', dst: '198.18.0.10'}, 40000 + i, 9, Buffer.alloc(size - 28, 0x61)))
}

function startCounter(host: Host, port: number): {done: Promise<{packets: number; bytes: number}>} {
  const child = host.spawn(blast, ['count', String(port), String(SECONDS + 1.5)])
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  const done = new Promise<{packets: number; bytes: number}>((resolve) => child.once('exit', () => resolve(JSON.parse(out.trim().split('\n').at(-1)!))))
  return {done}
}

/** idAt: where the inner IPv4 header starts in each payload, to number packets as a connected socket does. */
function send(payloads: Buffer[], to: string, port: number, rate: number, sport: number, idAt: number, seconds = SECONDS): {sent: number; seconds: number} {
  const out = execFileSync('ip', ['netns', 'exec', gen.ns, blast, 'send', '10.77.0.1', String(sport), to, String(port), String(rate), String(seconds), String(idAt), ...payloads.map((p) => p.toString('hex'))], {encoding: 'utf8'})
  return JSON.parse(out) as {sent: number; seconds: number}
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The forwarder's report (JSON), from its metrics listener on loopback. */
function health(): {flows: number; coalesced: number; groMerged: number; traffic: {packetsIn: number}; kernelTraffic: {packetsIn: number}; tunnels: {state: string}[]; inspection?: {state: string}} {
  return JSON.parse(execFileSync('ip', ['netns', 'exec', app.ns, process.execPath, '-e', "fetch('http://127.0.0.1:9641/json').then(r=>r.text()).then(t=>process.stdout.write(t))"], {encoding: 'utf8'})) as never
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits until the forwarder has this many tunnels up (30 s at most). */
async function untilTunnels(count: number): Promise<void> {
  const up = () => health().tunnels.filter((t) => t.state === 'up').length
  for (let waited = 0; up() < count; waited += 200) {
    if (waited > 30_000) throw new Error(`${up()} tunnels up after 30 s, not ${count}`)
    await sleep(200)
  }
}

/** The appliance's inspection flags. */
const inspectFlags = (inspect: string) => (inspect === 'off' ? [] : ['--inspect', inspect, '--inspect-queues', String(QUEUES), '--inspect-fail', 'open'])

/** The engine on the appliance's hook, once the appliance has made it (none with inspection off or --engine none). */
async function startEngine(inspect: string): Promise<ChildProcess | undefined> {
  if (inspect === 'off' || opts.engine === 'none') return undefined
  const dir = mkdtempSync(join(work, `suricata-${inspect}-`))
  const argv = await suricataArgv({mode: inspect as IdsMode, rules: EXAMPLE_RULES, queues: QUEUES, fail: 'open'}, dir)
  return app.spawn(argv[0]!, argv.slice(1), {stdio: ['ignore', 'ignore', 'ignore']})
}

/** Until the appliance sees its engine on the hook (Suricata takes seconds to load its rules and attach). */
async function untilAttached(): Promise<void> {
  for (let waited = 0; health().inspection?.state !== 'attached'; waited += 250) {
    if (waited > 60_000) throw new Error('the engine did not attach to the hook within 60 s')
    await sleep(250)
  }
}

async function startAppliance(mode: string, datapath: string, inspectFlags: string[]): Promise<ChildProcess> {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to the forwarder's node, for profiling.
  const child = app.spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(root, 'bin', 'run.js'), 'appliance', 'run', '--mode', mode, '--health-port', '8080', '--source-dest-check', 'skip', '--allowed-sources', 'any', '--datapath', datapath, '--geneve-interface', 'a0', ...(ENDPOINTS > 128 ? ['--max-tunnels', String(ENDPOINTS)] : []), ...(opts.workers ? ['--workers', opts.workers] : []), ...inspectFlags, ...opts['appliance-args'].split(' ').filter(Boolean)], {stdio: ['ignore', 'ignore', 'inherit']})
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ip', ['netns', 'exec', app.ns, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/8080'], {stdio: 'ignore'})
      return child
    } catch {
      await sleep(100)
    }
  }
  throw new Error('appliance did not start')
}

async function stopAppliance(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
}

interface Row {
  mode: string
  datapath: string
  inspect: string
  shape: string
  size: number
  rate: number
  sent: number
  delivered: number
  pps: number
  mbps: number
  loss: number
  cpu?: number
  /** The inspection engine's CPU (one CPU = 100%). */
  engineCpu?: number
  /** Share of the packets into the tunnel that went inside GSO packets. */
  coalesced?: number
  /** Share of the GENEVE packets that arrived merged by GRO. */
  groMerged?: number
  /** Share of the GENEVE packets the kernel moved by itself (BPF path). */
  kernel?: number
  /** Where packets were lost during the run. */
  drops: Drops
}

/** Drop counters where a run can lose packets: the appliance's UDP socket buffers, its tunnel queues, the counter's socket. */
interface Drops {
  socket: number
  tunnels: number
  counter: number
}

function udpReceiveBufferErrors(host: Host): number {
  const [names, values] = host.run('cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.trim().split(/\s+/))
  return Number(values![names!.indexOf('RcvbufErrors')])
}

function drops(counterHost: Host): Drops {
  const tunnels = app.run('sh', '-c', 'cat /sys/class/net/gw*/statistics/tx_dropped 2>/dev/null || true').split('\n').filter(Boolean)
  return {socket: udpReceiveBufferErrors(app), tunnels: tunnels.reduce((sum, n) => sum + Number(n), 0), counter: udpReceiveBufferErrors(counterHost)}
}

async function measure(mode: string, datapath: string, inspect: string, shape: string, size: number, rate: number, pid?: number, enginePid?: number): Promise<Row> {
  const inner = innerPackets(size)
  const geneve = inner.map((p, i) => encapsulate({eni: ENI.eni, cookie: (0x1000 + i).toString(16).padStart(8, '0')}, p))
  const counterHost = mode === 'one-arm' ? gen : sink
  const counter = startCounter(counterHost, mode === 'one-arm' ? 6081 : 9)
  await sleep(300)
  const dropsBefore = drops(counterHost)
  const cpuBefore = pid ? cpuSeconds(pid) : 0
  const engineBefore = enginePid ? cpuSeconds(enginePid) : 0
  const before = pid ? health() : undefined
  const idAt = shape === 'counting' ? geneveHeader(ENI).length : -1
  const result = mode === 'baseline' ? send(inner.map((p) => p.subarray(28)), '198.18.0.10', 9, rate, 40000, -1) : send(geneve, '10.77.0.2', 6081, rate, 51000, idAt)
  const cpu = pid ? (cpuSeconds(pid) - cpuBefore) / result.seconds : undefined
  const engineCpu = enginePid ? (cpuSeconds(enginePid) - engineBefore) / result.seconds : undefined
  const after = pid ? health() : undefined
  const inbound = (h: NonNullable<typeof after>) => h.traffic.packetsIn
  const share = (key: 'coalesced' | 'groMerged' | 'kernel') => {
    if (!before || !after) return undefined
    const value = (h: typeof after) => (key === 'kernel' ? h.kernelTraffic.packetsIn : h[key])
    return (value(after) - value(before)) / (inbound(after) - inbound(before))
  }
  const {packets} = await counter.done
  const dropsAfter = drops(counterHost)
  const lost = {socket: dropsAfter.socket - dropsBefore.socket, tunnels: dropsAfter.tunnels - dropsBefore.tunnels, counter: dropsAfter.counter - dropsBefore.counter}
  const pps = packets / result.seconds
  return {mode, datapath, inspect, shape, size, rate, sent: result.sent, delivered: packets, pps, mbps: (pps * size * 8) / 1e6, loss: 1 - packets / result.sent, cpu, engineCpu, coalesced: share('coalesced'), groMerged: share('groMerged'), kernel: share('kernel'), drops: lost}
}

/** With --repeat N, the run of median delivered rate out of N (each still a full --seconds run). */
async function median(run: () => Promise<Row>): Promise<Row> {
  const runs: Row[] = []
  for (let i = 0; i < Number(opts.repeat); i++) runs.push(await run())
  return runs.sort((a, b) => a.pps - b.pps)[Math.floor(runs.length / 2)]!
}

/**
 * RSS of the forwarder once it holds `count` live flows (sent as one packet each, from a Node loop), and the
 * kernel memory of its BPF maps (what /proc/PID/fdinfo says each map holds locked).
 */
async function memoryWithFlows(pid: number, count: number): Promise<Memory> {
  const script = `
    const dgram = require('node:dgram'); const s = dgram.createSocket('udp4');
    const head = Buffer.from('${encapsulate(ENI, Buffer.alloc(0)).toString('hex')}', 'hex');
    const base = Buffer.from('${udp({src: '10.200.0.5', dst: '198.18.0.10'}, 1, 9, Buffer.alloc(8)).toString('hex')}', 'hex');
    let i = 0;
    function burst() {
      for (let n = 0; n < 500 && i < ${count}; n++, i++) {
        const p = Buffer.concat([head, base]);
        p.writeUInt16BE(10 + (i >> 16), head.length + 12 + 2); p.writeUInt16BE(i & 0xffff, head.length + 20);
        s.send(p, 6081, '10.77.0.2');
      }
      if (i < ${count}) setTimeout(burst, 2); else setTimeout(() => s.close(), 200);
    }
    burst();`
  execFileSync('ip', ['netns', 'exec', gen.ns, process.execPath, '-e', script])
  await sleep(1500)
  const {flows} = health()
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
  return {flows, rssMb: rss, mapsMb: bpfMapBytes(pid) / 2 ** 20}
}

interface Memory {
  flows: number
  rssMb: number
  mapsMb: number
}

function bpfMapBytes(pid: number): number {
  let bytes = 0
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
    if (info.includes('map_type:')) bytes += Number(/memlock:\s+(\d+)/.exec(info)?.[1] ?? 0)
  }
  return bytes
}

const percent = (share?: number) => (share === undefined ? '    -' : `${(share * 100).toFixed(0).padStart(3)}%`)
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', {maximumFractionDigits: d, minimumFractionDigits: d})

/** The offered rate at which an appliance's loss is read: --loss-at of plain forwarding's delivered rate. */
function lossRate(rows: Row[], mode: string, size: number): number[] {
  const base = rows.find((b) => b.mode === 'baseline' && b.size === size && b.rate === 0)
  const share = Number(opts['loss-at'])
  return mode === 'baseline' || !base || !share ? [] : [Math.round(base.pps * share)]
}

async function main(): Promise<void> {
  const rows: Row[] = []
  const memory: (Memory & {datapath: string})[] = []
  const runs = modes.flatMap((mode) => (mode === 'baseline' ? [{mode, datapath: 'kernel', inspect: 'off'}] : datapaths.flatMap((datapath) => inspections.map((inspect) => ({mode, datapath, inspect})))))
  for (const {mode, datapath, inspect} of runs) {
    const child = mode === 'baseline' ? undefined : await startAppliance(mode, datapath, inspectFlags(inspect))
    const engine = child && (await startEngine(inspect))
    try {
      if (engine) await untilAttached()
      if (child) {
        // The other endpoints' tunnels first (a packet each), then the measured one's; measure steady state.
        const others = Array.from({length: ENDPOINTS - 1}, (_, i) => encapsulate({eni: (0xe000 + i).toString(16).padStart(16, '0')}, innerPackets(64)[0]!))
        // blast takes at most 64 payloads, and sends a batch of 64 copies of one at a time: 10,000/s reaches each.
        for (let i = 0; i < others.length; i += 64) send(others.slice(i, i + 64), '10.77.0.2', 6081, 10_000, 51000, -1, 1)
        await untilTunnels(ENDPOINTS - 1)
        send(innerPackets(64).map((p) => encapsulate(ENI, p)), '10.77.0.2', 6081, 100, 51000, -1, 1)
        await untilTunnels(ENDPOINTS)
      }
      // Plain forwarding has no shape: its packets are not GENEVE, and nothing merges them.
      for (const shape of mode === 'baseline' ? ['-'] : shapes)
        for (const size of sizes) for (const rate of [...rates, ...lossRate(rows, mode, size)]) rows.push(await median(() => measure(mode, datapath, inspect, shape, size, rate, child?.pid, engine?.pid)))
      if (child && inspect === inspections.at(-1) && mode === modes.filter((m) => m !== 'baseline').at(-1)) memory.push({datapath, ...(await memoryWithFlows(child.pid!, Number(opts['memory-flows'])))})
    } finally {
      if (engine) await stopAppliance(engine)
      if (child) await stopAppliance(child)
    }
  }
  console.log(`gwlb forwarder benchmark: ${SECONDS}s runs${opts.repeat !== '1' ? ` (median of ${opts.repeat})` : ''}, ${FLOWS} flows interleaved${ENDPOINTS > 1 ? `, ${ENDPOINTS} endpoints (${ENDPOINTS - 1} idle)` : ''}${opts['nic-gro'] ? ', NIC GRO' : ''}, ${opts.workers ?? 'one per CPU'} workers, ${new Date().toISOString()}`)
  console.log('shape: inner IPv4 IDs fixed (no run merges: packet by packet) or counting (runs of a flow merge)')
  if (inspections.some((i) => i !== 'off')) console.log(`inspect: the hook ${opts.engine === 'none' ? 'with no engine attached (failing open)' : `with Suricata on it (${QUEUES} queue(s) for ips), gwlb's example rules`}`)
  console.log('mode      path   inspect shape     inner  offered      sent   delivered pkt/s   Mbit/s    loss   fwd CPU engine  GRO  GSO kernel × kernel  dropped at socket/tunnel/counter')
  for (const r of rows) {
    const base = rows.find((b) => b.mode === 'baseline' && b.size === r.size && b.rate === r.rate)
    const ratio = base && r.mode !== 'baseline' ? `${(r.pps / base.pps).toFixed(2)}×` : ''
    console.log(
      `${r.mode.padEnd(9)} ${r.datapath.padEnd(6)} ${r.inspect.padEnd(7)} ${r.shape.padEnd(8)} ${String(r.size).padStart(5)}B ${(r.rate ? fmt(r.rate) : 'max').padStart(8)} ${fmt(r.sent).padStart(10)} ${fmt(r.pps).padStart(14)} ${fmt(r.mbps, 1).padStart(8)} ${(r.loss * 100).toFixed(1).padStart(6)}% ${r.cpu === undefined ? '      -' : `${(r.cpu * 100).toFixed(0).padStart(6)}%`} ${r.engineCpu === undefined ? '     -' : `${(r.engineCpu * 100).toFixed(0).padStart(5)}%`} ${percent(r.groMerged)} ${percent(r.coalesced)} ${percent(r.kernel)}  ${ratio.padEnd(7)} ${fmt(r.drops.socket)}/${fmt(r.drops.tunnels)}/${fmt(r.drops.counter)}`,
    )
  }
  for (const m of memory) console.log(`${m.datapath} path with ${fmt(m.flows)} live flows: forwarder RSS ${m.rssMb.toFixed(1)} MB, BPF maps ${m.mapsMb.toFixed(1)} MB`)
}

try {
  await main()
} finally {
  lab.cleanup()
}
