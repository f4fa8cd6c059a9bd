import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {checkRules} from '../ids-rules.js'
import {shortVersion} from '../policy.js'
import {stageVersion, type Staged, type StagingScope} from './staged-versions.js'

/** The operator's Suricata rules, staged for the fleet's engines to sync and reload live: `gwlb rules push`. */
export interface StagedRules extends Staged {
  rules: number
}

export async function pushRules(scope: StagingScope, file: string): Promise<StagedRules> {
  const {rules} = await checkRules(file, {needEngine: false})
  const body = await readFile(file)
  return stageVersion(scope, 'ids', {body, sha256: createHash('sha256').update(body).digest('hex'), extension: 'rules', contentType: 'text/plain'}, {rules})
}

export const rulesText = (staged: StagedRules) => `${shortVersion(staged.sha256)} (${staged.rules} rules, pushed ${staged.pushedAt})`
