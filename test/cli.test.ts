import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

const run = (...args: string[]) => execFileSync('./bin/run.js', args, {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})

describe('the built gwlb binary', () => {
  it('prints its version', () => {
    const {version} = JSON.parse(readFileSync('package.json', 'utf8')) as {version: string}
    expect(run('--version')).toContain(`gwlb/${version}`)
  })

  it('prints help with usage', () => {
    expect(run('--help')).toMatch(/USAGE\s+\$ gwlb/)
  })
})
