import {UserError} from '../errors.js'
import type {DeploymentSpec} from './spec.js'
import {SETTINGS, shown, type ChangeKind} from './settings-table.js'

export interface SettingChange {
  key: keyof DeploymentSpec
  kind: ChangeKind
  /** "health port 80 → 8080" */
  words: string
}

/** The settings that differ between what the deployment was made with and what is asked now, field by field. */
export function settingChanges(stored: DeploymentSpec, asked: DeploymentSpec): SettingChange[] {
  return SETTINGS.filter((s) => shown(stored[s.key]) !== shown(asked[s.key]))
    .map((s) => ({key: s.key, kind: s.change, words: `${s.label} ${shown(stored[s.key])} → ${shown(asked[s.key])}`}))
}

/** Refuses, before anything changes, what cannot change in place, with the way to get there. */
export function refuseFixed(changes: SettingChange[], stored: DeploymentSpec): void {
  const fixed = changes.filter((c) => c.kind === 'fixed')
  if (fixed.length === 0) return
  const keep = SETTINGS.filter((s) => fixed.some((c) => c.key === s.key)).map((s) => `--${s.flag} ${shown(stored[s.key])}`).join(' ')
  throw new UserError(`${fixed.map((c) => c.words).join('; ')}: cannot change in place`,
    `keep ${keep}; or build the new shape beside it (gwlb init --name <new> …), move the routes, then gwlb destroy --name ${stored.name}`, 'refused')
}
