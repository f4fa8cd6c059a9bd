import {describe, expect, it} from 'vitest'
import {reportCells} from '../../src/aws/fleet-reports.js'
import type {FleetReport} from '../../src/fleet-report.js'

describe('status\'s columns for an appliance, from its own report', () => {
  const now = Date.parse('2026-12-04T12:00:40Z')
  const report: FleetReport = {
    instanceId: 'i-0aaaaaaaaaaaaaaa1', at: '2026-12-04T12:00:30Z',
    dataPlane: {status: 'ok', datapath: 'bpf', tunnels: 2, flows: 812, packetsIn: 1_000_000},
    policy: {sha256: 'ab'.repeat(32)},
    inspection: {mode: 'ips', state: 'attached', packets: 991_002, queueDrops: 17},
    engine: {state: 'running', rulesLoaded: 41_230, rules: 'cd'.repeat(32)},
  }

  it('data plane, what the engine saw and lost, its rules, the policy version and the report\'s age', () => {
    expect(reportCells(report, now)).toEqual(['ok, 2 tunnels, 812 flows', 'ips attached (991002 packets, 17 lost at full queues); engine running (41230 rules, yours cdcdcdcdcdcd)', 'abababababab', '10 s ago'])
  })

  it('says nothing of losses where there were none, and calls a report three periods old stale', () => {
    expect(reportCells({...report, inspection: {...report.inspection!, queueDrops: 0}, at: '2026-12-04T11:58:00Z'}, now).slice(1))
      .toEqual(['ips attached (991002 packets); engine running (41230 rules, yours cdcdcdcdcdcd)', 'abababababab', '160 s ago (stale)'])
    expect(reportCells(undefined, now)).toEqual(['no report', '', '', ''])
  })
})
