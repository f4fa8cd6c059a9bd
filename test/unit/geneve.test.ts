import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {decodeGeneve, DECODER_DROP_REASONS, GenevePacket, hex64, type DropReason} from '../../src/appliance/geneve.js'
import {payload, vectors} from '../helpers/vectors.js'

/** What each scapy vector's stated reason means in this decoder's drop counters. */
const expectedReason: Record<string, DropReason> = {
  'truncated-base-header': 'truncated',
  'truncated-options': 'options-overrun',
  'version-1': 'bad-version',
  'option-length-overrun': 'option-overrun',
  'missing-flow-cookie': 'missing-aws-option',
  'unknown-critical-option': 'unknown-critical-option',
  'unsupported-protocol-type': 'unsupported-protocol',
  'not-geneve-junk': 'bad-version',
  empty: 'empty',
  'inner-ipv4-truncated': 'inner-truncated',
}

const decode = (bytes: Uint8Array) => {
  const out = new GenevePacket()
  return {reason: decodeGeneve(bytes, 0, bytes.length, out), out}
}

describe('GENEVE decoder against the independent (scapy) vectors', () => {
  const valid = vectors.filter((v) => v.valid)
  const invalid = vectors.filter((v) => !v.valid)

  it('has both kinds of vectors to check', () => {
    expect(valid.length).toBeGreaterThanOrEqual(6)
    expect(invalid.length).toBeGreaterThanOrEqual(8)
  })

  it.each(valid.map((v) => [v.name, v] as const))('reads every field of %s', (_name, v) => {
    const bytes = payload(v)
    const {reason, out} = decode(bytes)
    expect(reason).toBeNull()
    expect(out.vni).toBe(v.vni)
    expect(out.protocolType).toBe(v.protocol_type)
    expect(out.headerLength).toBe(v.header_length)
    expect(out.headerLength - 8).toBe(v.option_length_bytes)
    expect(out.eniHex).toBe(v.gwlbe_eni_id)
    expect(out.attachmentHex).toBe(v.attachment_id)
    expect(out.flowCookie.toString(16).padStart(8, '0')).toBe(v.flow_cookie)
    expect(Buffer.from(bytes.subarray(out.innerOffset, out.innerOffset + out.innerLength)).toString('hex')).toBe(v.inner_hex)
  })

  it.each(invalid.map((v) => [v.name, v] as const))('drops %s for the stated reason', (name, v) => {
    expect(decode(payload(v)).reason).toBe(expectedReason[name])
  })

  it('keeps an unknown non-critical option inside the header that goes back unchanged', () => {
    const v = vectors.find((x) => x.name === 'extra-noncritical-option')!
    const {out} = decode(payload(v))
    expect(out.headerLength).toBe(48)
    expect(payload(v).subarray(40, 48).toString('hex')).toBe('01090701aabbccdd')
  })

  it('formats 64-bit ids as 16 lower-case hex digits', () => {
    expect(hex64(0x2b8ee1d4, 0xdb0c51c4)).toBe('2b8ee1d4db0c51c4')
    expect(hex64(0, 1)).toBe('0000000000000001')
  })
})

describe('GENEVE decoder on hostile input', () => {
  const seeds = vectors.map(payload)

  it('never throws on random bytes, and only reports known reasons', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 200}), (bytes) => {
        const {reason} = decode(bytes)
        expect(reason === null || DECODER_DROP_REASONS.includes(reason)).toBe(true)
      }),
      {numRuns: 5000},
    )
  })

  it('never throws on mutated valid packets, and what it accepts lies inside the datagram', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({min: 0, max: 255})), {maxLength: 8}),
        fc.nat(),
        (seed, flips, cut) => {
          const bytes = Uint8Array.from(seed)
          for (const [at, value] of flips) if (bytes.length) bytes[at % bytes.length] = value
          const truncated = bytes.subarray(0, bytes.length ? cut % (bytes.length + 1) : 0)
          const {reason, out} = decode(truncated)
          if (reason === null) {
            expect(out.innerOffset).toBe(out.headerLength)
            expect(out.innerOffset + out.innerLength).toBeLessThanOrEqual(truncated.length)
          }
        },
      ),
      {numRuns: 5000},
    )
  })
})
