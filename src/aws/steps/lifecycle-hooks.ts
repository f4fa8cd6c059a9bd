import type {LifecycleHook, LifecycleHookSpecification} from '@aws-sdk/client-auto-scaling'
import {DeleteLifecycleHookCommand, DescribeLifecycleHooksCommand, PutLifecycleHookCommand} from '../../sdk/auto-scaling.js'
import {differences, done, names, scopeOf, type Scope, type Step} from '../step.js'
import {errorCode} from '../wait.js'

/**
 * The appliances' two lifecycle hooks, which each appliance completes itself (`gwlb appliance lifecycle`):
 * - launch: an instance waits in Pending:Wait, out of the target group, until its data plane is ready; one that
 *   is not within the timeout (a first boot that failed) is abandoned, and the group launches another.
 * - terminate: AWS first deregisters the instance from the GWLB and waits the deregistration delay; then the
 *   appliance waits for its last flows (bounded), stops its data plane (the operator's on-destroy hooks run),
 *   with an engine ships its last alerts, and lets it go. An instance refresh goes through the same hooks.
 */
const HOOKS = {
  // A first boot that installs Suricata from its PPA takes minutes; one that has not made it in 15 has failed.
  launch: {LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING', HeartbeatTimeout: 900, DefaultResult: 'ABANDON'},
  // The appliance's own drain (at most DRAIN_SECONDS) and its last alerts; if it says nothing, it goes anyway.
  terminate: {LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 300, DefaultResult: 'CONTINUE'},
} as const
type Role = keyof typeof HOOKS
const ROLES = Object.keys(HOOKS) as Role[]

/** How long a leaving appliance waits for its last flows once AWS has drained it (within the terminate hook's 300 s). */
export const DRAIN_SECONDS = 120

export const hookName = (group: string, role: Role) => `${group}-${role}`

/** The hooks as CreateAutoScalingGroup takes them: in place before the group's first instance launches. */
export const hookSpecifications = (group: string): LifecycleHookSpecification[] =>
  ROLES.map((role) => ({LifecycleHookName: hookName(group, role), ...HOOKS[role]}))

const words = (h: Pick<LifecycleHook, 'HeartbeatTimeout' | 'DefaultResult'>) => `${h.HeartbeatTimeout} s, then ${h.DefaultResult}`
const resource = (h: LifecycleHook) => ({type: 'lifecycle-hook', id: h.LifecycleHookName!, name: h.LifecycleHookName!, detail: words(h)})
const groupOf = (scope: Pick<Scope, 'deployment' | 'region'>) => names({name: scope.deployment}, scope.region).autoScalingGroup

async function hooksOf(scope: Pick<Scope, 'aws' | 'deployment' | 'region'>): Promise<LifecycleHook[]> {
  const group = groupOf(scope)
  const {LifecycleHooks = []} = await scope.aws.autoscaling.send(new DescribeLifecycleHooksCommand({AutoScalingGroupName: group}))
    .catch((error: unknown) => (errorCode(error) === 'ValidationError' ? {LifecycleHooks: []} : Promise.reject(error)))
  return LifecycleHooks.filter((h) => ROLES.some((role) => h.LifecycleHookName === hookName(group, role)))
}

/** Which hooks are missing or differ from what gwlb asks of them. */
function unlike(group: string, found: LifecycleHook[]): Role[] {
  return ROLES.filter((role) => {
    const hook = found.find((h) => h.LifecycleHookName === hookName(group, role))
    return !hook || differences([['hook', words(hook), words(HOOKS[role])]]).length > 0 || hook.LifecycleTransition !== HOOKS[role].LifecycleTransition
  })
}

export const lifecycleHooks: Step = {
  id: 'lifecycle-hooks',
  title: 'Lifecycle hooks (launch when ready, drain before terminating)',
  needs: ['auto-scaling-group'],
  enabled: () => true,
  expected: () => ROLES.length,

  async find(ctx) {
    const scope = scopeOf(ctx)
    const found = ctx.states.get('auto-scaling-group')?.resources.length ? await hooksOf(scope) : []
    const group = groupOf(scope)
    return {resources: found.map(resource), missing: unlike(group, found).map((role) => `${hookName(group, role)}: ${words(HOOKS[role])}`)}
  },

  async create(ctx) {
    const scope = scopeOf(ctx)
    const group = groupOf(scope)
    for (const role of unlike(group, await hooksOf(scope)))
      await ctx.aws.autoscaling.send(new PutLifecycleHookCommand({AutoScalingGroupName: group, LifecycleHookName: hookName(group, role), ...HOOKS[role]}))
    return done((await hooksOf(scope)).map(resource))
  },

  async owned(scope) {
    return (await hooksOf(scope)).map(resource)
  },

  // First on the way down: instances that the group's deletion terminates do not wait on an appliance's drain.
  async remove(scope, owned) {
    for (const r of owned) await scope.aws.autoscaling.send(new DeleteLifecycleHookCommand({AutoScalingGroupName: groupOf(scope), LifecycleHookName: r.id})).catch(() => undefined)
  },
}
