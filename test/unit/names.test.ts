import {describe, expect, it} from 'vitest'
import {base60, tunnelNames} from '../../src/appliance/host/names.js'

describe('tunnel names, as gwlbtun makes them', () => {
  it('names ENI 0x2b8ee1d4db0c51c4 as gwlbtun does', () => {
    // gwlbtun: base 60, most significant digit first, digits 0-9a-zA-X.
    expect(base60(0x2b8ee1d4db0c51c4n)).toBe('5bqWvzLwwkk')
    expect(tunnelNames(0x2b8ee1d4, 0xdb0c51c4)).toEqual({ingress: 'gwi-5bqWvzLwwkk', egress: 'gwo-5bqWvzLwwkk', eniHex: '02b8ee1d4db0c51c4'})
  })

  it('fits the 15-character interface name limit for every 64-bit id', () => {
    expect(base60(0xffffffffffffffffn)).toHaveLength(11)
    expect(tunnelNames(0xffffffff, 0xffffffff).ingress.length).toBeLessThanOrEqual(15)
  })

  it('counts in base 60 with the upper-case letters last', () => {
    expect(base60(0n)).toBe('0')
    expect(base60(59n)).toBe('X')
    expect(base60(60n)).toBe('10')
  })

  it('prints the ENI id with 17 hex digits, like gwlbtun\'s %017x', () => {
    expect(tunnelNames(0x76bc493b, 0x822cd32f).eniHex).toBe('076bc493b822cd32f')
    expect(tunnelNames(0, 1).eniHex).toBe('00000000000000001')
  })
})
