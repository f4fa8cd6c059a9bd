import {afterEach, describe, expect, it} from 'vitest'
import {FORWARD_DROP_REASONS, type AnyDropReason} from '../../src/appliance/counters.js'
import {DECODER_DROP_REASONS} from '../../src/appliance/geneve.js'
import {METRICS, renderMetrics, type Metric} from '../../src/appliance/health/metrics.js'
import type {HealthReport} from '../../src/appliance/health/report.js'

const traffic = (n: number) => ({packetsIn: n + 1, bytesIn: (n + 1) * 100, packetsOut: n, bytesOut: n * 100})
const report = (over: Partial<HealthReport> = {}): HealthReport => ({
  status: 'ready', mode: 'one-arm', workers: 2, uptimeSeconds: 12, datapath: 'tun', traffic: traffic(10), kernelTraffic: traffic(0),
  drops: Object.fromEntries([...DECODER_DROP_REASONS, ...FORWARD_DROP_REASONS].map((r) => [r, r === 'tunnel-limit' ? 3 : 0])) as Record<AnyDropReason, number>,
  crossWorkerReplies: 1, coalesced: 2, groMerged: 3, flowEvictions: 0, receiveBufferDrops: 0, flows: 4,
  tunnels: [{ingress: 'gwi-2F', egress: 'gwo-2F', eni: '0000000000000000a1', state: 'up', traffic: traffic(5), createdAt: '', idleSeconds: 0}],
  ...over,
})

describe('the metrics registry: each metric declared once, /metrics follows', () => {
  const extra: Metric = {name: 'test_things_total', type: 'counter', help: 'Things.', samples: (h) => [['', h.flows * 2]]}
  afterEach(() => {
    if (METRICS.includes(extra)) METRICS.splice(METRICS.indexOf(extra), 1)
  })

  it('every declared metric is exposed with its HELP and TYPE, and every sample line is Prometheus text', () => {
    const policy = {file: 'p.yaml', sha256: 'ab'.repeat(32), appliedAt: '2026-12-04T00:00:00Z', default: 'deny' as const, rules: [{name: 'web', action: 'allow' as const, packets: 9, bytes: 900, flows: 2}]}
    const text = renderMetrics(report({inspection: {mode: 'ips', fail: 'open', state: 'attached', where: 'queues 0-0', packets: 7, queueDrops: 0}, policy}))
    for (const m of METRICS) expect(text).toContain(`# HELP gwlb_${m.name} ${m.help}\n# TYPE gwlb_${m.name} ${m.type}\n`)
    for (const line of text.trim().split('\n').filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^gwlb_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \d+$/)
    expect(text).toMatch(/^gwlb_drops_total\{reason="tunnel-limit"\} 3$/m)
    expect(text).toMatch(/^gwlb_tunnel_packets_total\{interface="gwi-2F",eni="eni-0000000000000000a1",direction="out"\} 5$/m)
    expect(text).toMatch(/^gwlb_inspection\{mode="ips",state="attached"\} 1$/m)
    expect(text).toMatch(/^gwlb_policy_flows_total\{rule="web",action="allow"\} 2$/m)
  })

  it('a metric the report has nothing of is not exposed at all (inspection off, no policy)', () => {
    expect(renderMetrics(report())).not.toMatch(/gwlb_inspection|gwlb_policy/)
  })

  it('a new metric is one entry', () => {
    METRICS.push(extra)
    expect(renderMetrics(report())).toMatch(/# HELP gwlb_test_things_total Things\.\n# TYPE gwlb_test_things_total counter\ngwlb_test_things_total 8\n/)
  })
})
