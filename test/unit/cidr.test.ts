import {describe, expect, it} from 'vitest'
import {Ipv4Blocks, isLoopback, parseCidr, parseListen, parseSources} from '../../src/cidr.js'

describe('CIDR blocks, checked where they come in', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.0.2.7/32', '192.0.2.7/32'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['::/0', '::/0'],
  ])('takes %s', (value, text) => expect(parseCidr(value)).toMatchObject({text}))

  it.each([
    ['10.0.0.1/8', 'has host bits set: the block is 10.0.0.0/8'],
    ['010.0.0.0/8', 'write the address as four decimal numbers'],
    ['1.2.3/8', 'write the address as four decimal numbers'],
    [':::/0', 'is not a CIDR block'],
    ['1:2/64', 'is not a CIDR block'],
    ['10.0.0.0/33', 'is not a CIDR block'],
    ['2001:db8::1/32', 'has host bits set: the block is 2001:db8::/32'],
    ['10.0.0.0', 'is not a CIDR block'],
  ])('refuses %s: %s', (value, problem) => expect(parseCidr(value)).toContain(problem))

  it('tests IPv4 addresses against blocks, in host order and as text (also IPv4-mapped)', () => {
    const blocks = Ipv4Blocks.of(parseSources('10.0.10.0/24,10.0.11.0/24', '--allowed-sources') as never)
    expect(blocks.has(0x0a000a05)).toBe(true)
    expect(blocks.has(0x0a000c05)).toBe(false)
    expect(blocks.hasText('::ffff:10.0.11.200')).toBe(true)
    expect(blocks.hasText('10.0.12.1')).toBe(false)
    expect(blocks.hasText('2001:db8::1')).toBe(false)
    expect(Ipv4Blocks.of(parseSources('0.0.0.0/0', '-') as never).has(0xffffffff)).toBe(true)
  })

  it('knows loopback, and parses listen addresses', () => {
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([true, true, true])
    expect(['10.0.0.1', '::ffff:10.0.0.1', 'bogus'].map(isLoopback)).toEqual([false, false, false])
    expect(parseListen('127.0.0.1:9641', '-')).toEqual({host: '127.0.0.1', port: 9641})
    expect(parseListen('[::1]:80', '-')).toEqual({host: '::1', port: 80})
    expect(parseListen('off', '-')).toBeUndefined()
    expect(() => parseListen('127.0.0.1:70000', '--metrics-listen')).toThrow(/--metrics-listen 127.0.0.1:70000 is not ADDRESS:PORT/)
    expect(parseSources('any', '-')).toBe('any')
  })
})
