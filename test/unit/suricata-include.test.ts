import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {SURICATA_CONFIG, suricataInclude} from '../../src/ids-rules.js'

describe('gwlb\'s part of Suricata\'s configuration (the lab\'s and the fleet\'s engines)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwlb-suricata-include-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('an inline engine that fails open lets a full queue pass (NFQUEUE\'s fail-open); one that fails closed does not', () => {
    expect(suricataInclude({ruleFiles: ['a.rules'], failOpenQueues: true, events: []})).toMatch(/^nfq:\n {2}fail-open: yes$/m)
    expect(suricataInclude({ruleFiles: ['a.rules'], failOpenQueues: false, events: []})).not.toMatch(/nfq/)
  })

  it('is what this machine\'s Suricata loads, inline on a queue, with its rule files and socket', () => {
    const rules = join(dir, 'local.rules')
    writeFileSync(rules, 'alert http any any -> any any (msg:"gwlb test"; content:"uid=0"; sid:9300001; rev:1;)\n')
    writeFileSync(join(dir, 'gwlb.yaml'), suricataInclude({ruleFiles: [rules], socket: join(dir, 'gwlb.socket'), failOpenQueues: true, events: []}))
    const test = spawnSync('suricata', ['-T', '-v', '-c', SURICATA_CONFIG, '--include', join(dir, 'gwlb.yaml'), '-l', dir, '-q', '0'], {encoding: 'utf8'})
    expect(test.status, test.stderr + test.stdout).toBe(0)
    expect(test.stdout + test.stderr).toMatch(/1 rules successfully loaded/)
  })
})
