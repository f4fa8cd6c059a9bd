import {describe, expect, it} from 'vitest'
import {alertOf, eveTime} from '../../src/eve.js'

const line = JSON.stringify({
  timestamp: '2026-12-04T11:00:00.123456+0100', flow_id: 1, event_type: 'alert', src_ip: 'fd00:1::5', src_port: 40000, dest_ip: '198.18.0.10', dest_port: 80, proto: 'TCP',
  alert: {action: 'blocked', gid: 1, signature_id: 9000001, rev: 1, signature: 'gwlb lab: HTTP to blocked.example', severity: 1},
})

describe('Suricata\'s eve.json as gwlb reads it', () => {
  it('reads an event\'s time with microseconds and an offset without a colon, to the millisecond', () => {
    expect(eveTime(line)).toBe(Date.parse('2026-12-04T10:00:00.123Z'))
    expect(eveTime('{"timestamp":"2026-12-04T10:00:00+0000"}')).toBe(Date.parse('2026-12-04T10:00:00Z'))
    expect(eveTime('{"event_type":"stats"}')).toBeUndefined()
  })

  it('makes an alert of an alert line, with IPv6 endpoints in brackets; other events and cut lines are none', () => {
    expect(alertOf(line, 'i-1')).toEqual({
      time: '2026-12-04T11:00:00.123456+0100', appliance: 'i-1', signatureId: 9000001, signature: 'gwlb lab: HTTP to blocked.example', action: 'blocked',
      protocol: 'TCP', source: '[fd00:1::5]:40000', destination: '198.18.0.10:80',
    })
    expect(alertOf('{"event_type":"flow"}', 'i-1')).toBeUndefined()
    expect(alertOf(line.slice(0, 80), 'i-1')).toBeUndefined()
  })
})
