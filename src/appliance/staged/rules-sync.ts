import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {checkRules} from '../../ids-rules.js'
import {shortVersion} from '../../policy.js'
import {putRules} from '../host/engine-control.js'
import {replaceWhole} from '../host/system.js'
import {syncStaged, type SyncOptions, type SyncResult} from './sync.js'

/**
 * `gwlb appliance rules-sync`: the IDS rules gwlb rules push staged, tested by this appliance's Suricata
 * (its test mode) before they replace the engine's rules file, then reloaded live through its control socket;
 * a reload that fails puts the old file back. Until some are pushed the file is empty (ET Open and the policy's
 * rules are in files of their own).
 */
export const syncRules = (o: SyncOptions & {socket: string}): Promise<SyncResult> => syncStaged(o, {
  what: 'IDS rules',
  none: {text: '', said: 'no IDS rules pushed'},
  async check(body, key) {
    const dir = await mkdtemp(join(tmpdir(), 'gwlb-rules-sync-'))
    try {
      const file = join(dir, key.split('/').at(-1)!)
      await writeFile(file, body)
      await checkRules(file, {needEngine: true})
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  },
  async apply(body, sha256, reload) {
    if (!reload) {
      await replaceWhole(o.file, body)
      return `IDS rules ${shortVersion(sha256)} written to ${o.file}`
    }
    await putRules(o.file, o.socket, body.toString())
    return `IDS rules ${shortVersion(sha256)} in force`
  },
})
