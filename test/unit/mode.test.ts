import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import ApplianceRun from '../../src/commands/appliance/run.js'
import Init from '../../src/commands/init.js'
import {MODE_NAMES} from '../../src/mode.js'

const src = fileURLToPath(new URL('../../src', import.meta.url))
const sources = (dir: string): string[] =>
  readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))

describe('the appliance mode is one definition', () => {
  it('is named as a value only in src/mode.ts: everything else takes a Mode and asks its definition', () => {
    const naming = sources(src).filter((file) => MODE_NAMES.some((mode) => new RegExp(`['"\`]${mode}['"\`]`).test(readFileSync(file, 'utf8'))))
    expect(naming.map((f) => relative(src, f))).toEqual(['mode.ts'])
  })

  it('is what init and appliance run offer, no more and no less', () => {
    // init's setting flags come from the settings table, typed as any flag.
    expect((Init.flags as unknown as Record<string, {options?: readonly string[]}>)['mode']?.options).toEqual(MODE_NAMES)
    expect(ApplianceRun.flags.mode.options).toEqual(MODE_NAMES)
  })
})
