import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {DROP_REASONS, MAX_SOURCES, PER_TUNNEL, TUNNEL_SLOTS} from '../../src/appliance/datapath/bpf/fast-path.js'

/** The BPF programs' counters are read by index: the C and the TypeScript must number them alike. */
describe('the stats map, as native/bpf/gwlb.bpf.c lays it out and fast-path.ts reads it', () => {
  const source = readFileSync(new URL('../../native/bpf/gwlb.bpf.c', import.meta.url), 'utf8')

  it('has an in and an out counter per tunnel, for the totals and every tunnel index the TUN path hands out', () => {
    expect(source).toMatch(/enum \{ IN, OUT, PER_TUNNEL \};/)
    expect(PER_TUNNEL).toBe(2)
    expect(source).toContain(`#define MAX_TUNNELS ${TUNNEL_SLOTS}\n`)
  })

  it('takes as many allowed source blocks as fast-path.ts lets through', () => {
    expect(source).toContain(`#define MAX_SOURCES ${MAX_SOURCES} `)
  })

  it('counts the drops in the order the programs number them, with the TUN path decoder names', () => {
    const names = /enum \{\s*(DROP_[^}]*?),\s*DROP_REASONS\s*\};/.exec(source)![1]!.split(',').map((name) => name.trim())
    expect(names.map((name) => name.replace(/^DROP_/, '').toLowerCase().replaceAll('_', '-'))).toEqual(DROP_REASONS)
  })
})
