import {UserError} from '../../errors.js'
import {shortVersion} from '../../policy.js'
import {checkedPolicy} from '../policy-staging.js'
import {checkedRules} from '../rules-staging.js'
import type {DeploymentSpec} from '../spec.js'
import type {Checked, StagedKind} from '../staged-file.js'
import {deploymentBucket, stagedVersion, stageVersion} from '../staged-versions.js'
import {done, scopeOf, type Resource, type Step, type StepContext} from '../step.js'
import {APPLIANCE_PREFIX} from './software.js'

/** The files init was given to stage (`--policy`, `--ids-rules`), checked before anything changes. */
export type InitFiles = Checked<object>[]

/**
 * Checks `init --policy FILE` and `--ids-rules FILE` before anything is made: a file with an error is refused
 * with one line, and IDS rules need an engine to run them.
 */
export async function checkInitFiles(spec: DeploymentSpec, given: {policy?: string; idsRules?: string}): Promise<InitFiles> {
  if (given.idsRules && spec.ids === 'none') throw new UserError('--ids-rules needs an engine to run them', 'add --ids suricata, or leave --ids-rules out', 'usage')
  return [...(given.policy ? [await checkedPolicy(given.policy)] : []), ...(given.idsRules ? [await checkedRules(given.idsRules)] : [])]
}

const WHAT: Record<StagedKind, string> = {policy: 'egress policy', ids: 'IDS rules'}
const resource = (file: Checked<object>): Resource => ({type: 's3-object', id: `${APPLIANCE_PREFIX}${file.kind}/current.json`, name: `${WHAT[file.kind]} ${file.file}`, detail: shortVersion(file.sha256)})

/** Which of the files the fleet's pointers do not name yet (all of them while there is no bucket). */
async function unstaged(ctx: StepContext): Promise<InitFiles> {
  const files = ctx.options.files ?? []
  if (!files.length || !ctx.states.get('bucket')?.resources.length) return files
  const bucket = await deploymentBucket(scopeOf(ctx))
  const current = await Promise.all(files.map((f) => stagedVersion(ctx.aws, bucket, f.kind)))
  return files.filter((f, i) => current[i]?.sha256 !== f.sha256)
}

/**
 * The egress policy and IDS rules given to init, staged as `gwlb policy push` and `gwlb rules push` stage them,
 * before the launch template: the first appliances boot with them. They are one-time inputs, not settings: a
 * re-run without them leaves what was pushed since in force (the staged objects are the software step's, in
 * the bucket's appliance folder, and go with it).
 */
export const initFiles: Step = {
  id: 'init-files',
  title: 'Egress policy and IDS rules given to init',
  needs: ['bucket'],
  enabled: () => true,
  expected: () => 0,

  async find(ctx) {
    const missing = await unstaged(ctx)
    return {
      resources: (ctx.options.files ?? []).filter((f) => !missing.includes(f)).map(resource),
      missing: missing.map((f) => `${WHAT[f.kind]} ${f.file} (${shortVersion(f.sha256)}) staged for the fleet`),
    }
  },

  async create(ctx) {
    for (const file of await unstaged(ctx)) {
      ctx.progress(`staging ${WHAT[file.kind]} ${file.file}`)
      await stageVersion(scopeOf(ctx), file)
    }
    return done((ctx.options.files ?? []).map(resource))
  },

  owned: async () => [],
  async remove() {},
}
