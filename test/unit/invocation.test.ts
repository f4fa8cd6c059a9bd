import {mkdtempSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {invokedAs} from '../../src/invocation.js'

describe('the hints name gwlb as it was started', () => {
  const argv1 = process.argv[1]
  const path = process.env.PATH
  afterEach(() => {
    process.argv[1] = argv1!
    process.env.PATH = path
  })
  const script = resolve('bin/run.js')

  it('from a clone: its path, as typed from here', () => {
    process.argv[1] = script
    process.env.PATH = '/usr/bin:/bin'
    expect(invokedAs()).toBe('./bin/run.js')
  })

  it('installed: gwlb, where that name on the PATH is this program', () => {
    const bin = mkdtempSync(join(tmpdir(), 'gwlb-path-'))
    symlinkSync(script, join(bin, 'gwlb'))
    process.argv[1] = script
    process.env.PATH = `/usr/bin:${bin}`
    expect(invokedAs()).toBe('gwlb')
  })
})
