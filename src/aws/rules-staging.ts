import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {checkRules} from '../ids-rules.js'
import {shortVersion} from '../policy.js'
import type {Checked} from './staged-file.js'
import {stageVersion, type Staged, type StagingScope} from './staged-versions.js'

/** The operator's Suricata rules, staged for the fleet's engines to sync and reload live: `gwlb rules push`. */
export interface StagedRules extends Staged {
  rules: number
}

/** A rules file, checked (Suricata's test mode where it is installed here, else each line's shape). */
export async function checkedRules(file: string): Promise<Checked<Omit<StagedRules, keyof Staged>>> {
  const {rules} = await checkRules(file, {needEngine: false})
  const body = await readFile(file)
  return {kind: 'ids', file, body, sha256: createHash('sha256').update(body).digest('hex'), extension: 'rules', contentType: 'text/plain', meta: {rules}}
}

export const pushRules = async (scope: StagingScope, file: string): Promise<StagedRules> => stageVersion(scope, await checkedRules(file))

export const rulesText = (staged: StagedRules) => `${shortVersion(staged.sha256)} (${staged.rules} rules, pushed ${staged.pushedAt})`
