import {readFile} from 'node:fs/promises'
import {loadPolicy, shortVersion} from '../policy.js'
import {fleetReports} from './fleet-reports.js'
import {groupInstances} from './steps/fleet.js'
import type {Scope} from './step.js'
import type {Checked} from './staged-file.js'
import {deploymentBucket, stagedVersion, stageVersion, type Staged, type StagingScope} from './staged-versions.js'

/** The fleet's egress policy, staged for the appliances to sync (staged-versions.ts): `gwlb policy push`. */
export interface StagedPolicy extends Staged {
  rules: number
  default: string
}

/** A policy file, checked (a file with an error is refused with one line, before anything is staged). */
export async function checkedPolicy(file: string): Promise<Checked<Omit<StagedPolicy, keyof Staged>>> {
  const policy = await loadPolicy(file)
  return {kind: 'policy', file, body: await readFile(file), sha256: policy.sha256, extension: 'yaml', contentType: 'application/yaml', meta: {rules: policy.rules.length, default: policy.default}}
}

export const pushPolicy = async (scope: StagingScope, file: string): Promise<StagedPolicy> => stageVersion(scope, await checkedPolicy(file))

export interface PolicyShow {
  staged?: StagedPolicy
  /** Each instance of the group, and the version it says it runs (its last report: within 30 s of a sync). */
  instances: {id: string; az: string; lifecycle: string; health: string; policy?: string; refused?: string; reportedAt?: string}[]
}

export async function showPolicy(scope: Scope): Promise<PolicyShow> {
  const staged = await stagedVersion<StagedPolicy>(scope.aws, await deploymentBucket(scope), 'policy')
  const group = await groupInstances(scope)
  const reports = await fleetReports(scope, group.map((i) => i.InstanceId!))
  const instances = group.map((i) => {
    const report = reports.get(i.InstanceId!)
    return {
      id: i.InstanceId!, az: i.AvailabilityZone ?? '', lifecycle: i.LifecycleState ?? '', health: i.HealthStatus ?? '',
      ...(report?.policy ? {policy: report.policy.sha256, ...(report.policy.refused ? {refused: report.policy.refused} : {})} : {}),
      ...(report ? {reportedAt: report.at} : {}),
    }
  })
  return {...(staged ? {staged} : {}), instances}
}

export const versionText = (staged: StagedPolicy) => `${shortVersion(staged.sha256)} (${staged.rules} rules, default ${staged.default}, pushed ${staged.pushedAt})`
