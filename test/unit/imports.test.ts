import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

const src = fileURLToPath(new URL('../../src', import.meta.url))
const files = (dir: string): string[] =>
  readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))

/** src/ as a graph: each module (path under src/) and the modules of src/ it imports, statically or not. */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>()
  for (const file of files(src)) {
    const specifiers = [...readFileSync(file, 'utf8').matchAll(/(?:from |import\()'(\.{1,2}\/[^']+)\.js'/g)].map((m) => m[1]!)
    edges.set(relative(src, file), specifiers.map((s) => relative(src, resolve(dirname(file), `${s}.ts`))))
  }
  return edges
}

describe('the import graph of src/', () => {
  const edges = graph()

  it('has no cycle', () => {
    const cycles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === 'done') return
      if (state.get(node) === 'open') return void cycles.push([...path.slice(path.indexOf(node)), node].join(' → '))
      state.set(node, 'open')
      for (const next of edges.get(node) ?? []) visit(next, [...path, node])
      state.set(node, 'done')
    }
    for (const node of edges.keys()) visit(node, [])
    expect(cycles).toEqual([])
  })

  it('keeps the rooms apart: provisioning never reaches the appliance, a data path never the control loop or health', () => {
    const crossing = (from: string, to: string) =>
      [...edges].flatMap(([file, imports]) => (file.startsWith(from) ? imports.filter((i) => i.startsWith(to)).map((i) => `${file} → ${i}`) : []))
    expect(crossing('aws/', 'appliance/')).toEqual([])
    expect(crossing('appliance/datapath/', 'appliance/appliance')).toEqual([])
    expect(crossing('appliance/datapath/', 'appliance/health/')).toEqual([])
    expect(crossing('appliance/host/', 'appliance/datapath/')).toEqual([])
    // The control loop asks for a data path by kind, and talks to it through its interface.
    expect(crossing('appliance/appliance', 'appliance/datapath/').sort()).toEqual([
      'appliance/appliance.ts → appliance/datapath/datapath.ts', 'appliance/appliance.ts → appliance/datapath/native.ts', 'appliance/appliance.ts → appliance/datapath/select.ts',
    ])
  })
})
