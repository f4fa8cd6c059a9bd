import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {DECODER_DROP_REASONS} from '../../src/appliance/geneve.js'
import {FORWARD_DROP_REASONS} from '../../src/appliance/counters.js'
import {native} from '../../src/appliance/datapath/native.js'
import * as abi from '../../src/generated/abi.js'

const root = new URL('../../', import.meta.url)

/** native/include/gwlb_abi.h is the one definition; src/generated/abi.ts is written from it by the build. */
describe('the C/TypeScript ABI', () => {
  it('src/generated/abi.ts is what scripts/abi.mjs makes of the header now', () => {
    expect(() => execFileSync('node', ['scripts/abi.mjs', '--check'], {cwd: root, stdio: 'pipe'})).not.toThrow()
  })

  it('names the kernel drops as the TUN path names the same drops', () => {
    for (const reason of abi.KERNEL_DROP_REASONS) expect([...DECODER_DROP_REASONS, ...FORWARD_DROP_REASONS]).toContain(reason)
  })

  it('keeps tunnel slots a power of two (the programs mask indexes with it) and one more than the tunnels', () => {
    expect(abi.TUNNEL_SLOTS & (abi.TUNNEL_SLOTS - 1)).toBe(0)
    expect(abi.MAX_TUNNELS).toBe(abi.TUNNEL_SLOTS - 1)
    expect(abi.STATS_NEW_FLOWS).toBe(abi.STATS_DROPS + abi.KERNEL_DROP_REASONS.length)
  })

  it('the built module exports exactly the functions the header lists', () => {
    const generated = readFileSync(new URL('src/generated/abi.ts', root), 'utf8')
    const declared = generated.slice(generated.indexOf('export interface Native {'))
    const listed = [...declared.matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1])
    expect(listed).toContain('bpfCountSince')
    expect(Object.getOwnPropertyNames(native()).sort()).toEqual(listed.sort())
  })
})
