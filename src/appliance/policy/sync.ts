import {UserError} from '../../errors.js'
import {checkPolicy, OPEN_POLICY, problemLine, shortVersion} from '../../policy.js'
import {applianceHere} from '../host/state.js'
import {replaceWhole} from '../host/system.js'
import {syncStaged, type SyncOptions, type SyncResult} from '../staged/sync.js'
import {untilInForce, type PolicyReport} from './enforce.js'

/**
 * `gwlb appliance policy-sync`: the policy gwlb policy push staged, put in place of the appliance's --policy file
 * whole, then put in force by the appliance (SIGHUP), waiting for its word. Until one is pushed, everything passes.
 */
export const syncPolicy = (o: SyncOptions): Promise<SyncResult> => syncStaged(o, {
  what: 'policy',
  none: {text: OPEN_POLICY, said: 'no policy pushed: everything passes'},
  async check(body, key) {
    const {policy, problems} = checkPolicy(body.toString())
    if (!policy) throw new UserError(`the pushed policy does not check: ${problemLine(key, problems.find((p) => p.severity === 'error')!)}`, 'nothing was changed; push a policy that gwlb policy check accepts')
  },
  async apply(body, sha256, reload) {
    const since = Date.now()
    await replaceWhole(o.file, body)
    const appliance = reload ? await applianceHere() : undefined
    if (!appliance) return `policy ${shortVersion(sha256)} written to ${o.file}${reload ? ' (no appliance runs here: it starts with it)' : ''}`
    process.kill(appliance.pid, 'SIGHUP')
    const outcome = await untilInForce(() => appliance.published<PolicyReport>('policy'), sha256, since)
    if (outcome === 'timeout') throw new UserError(`the appliance (pid ${appliance.pid}) did not report policy ${shortVersion(sha256)} within 15 s`, 'see its log (journalctl -u gwlb-appliance)')
    if (outcome !== 'in-force') throw new UserError(`the appliance refused policy ${shortVersion(sha256)}: ${outcome.refused}`, `it keeps policy ${shortVersion(outcome.keeps ?? '')}`)
    return `policy ${shortVersion(sha256)} in force`
  },
})
