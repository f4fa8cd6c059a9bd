import type {AutoScalingClient} from '@aws-sdk/client-auto-scaling'
import {setTimeout as sleep} from 'node:timers/promises'
import {CompleteLifecycleActionCommand} from '../../sdk/auto-scaling.js'
import {dataPlaneReport} from './fleet-report.js'

/** `gwlb appliance lifecycle`: this instance's part in its group's two lifecycle hooks (src/aws/steps/lifecycle-hooks.ts). */
export interface LifecycleOptions {
  group: string
  launchHook: string
  terminateHook: string
  instanceId: string
  autoscaling: AutoScalingClient
  /** The data plane's report listener (its --metrics-listen). */
  metrics: string
  /** Where the instance is headed: IMDS's autoscaling/target-lifecycle-state (InService, then Terminated). */
  targetState: () => Promise<string>
  /** How long to wait for the last flows once the instance is leaving. */
  drainSeconds: number
  /** What runs between the drain and letting the instance go (stop the data plane: its on-destroy hooks run). */
  onTerminate: () => Promise<void>
  pollMs: number
  signal: AbortSignal
  say: (line: string) => void
}

/** Polls until `done` says so; false if stopped first. */
async function until(o: LifecycleOptions, done: () => Promise<boolean>, deadline = Number.POSITIVE_INFINITY): Promise<boolean> {
  while (!o.signal.aborted && Date.now() < deadline) {
    if (await done()) return true
    await sleep(o.pollMs, undefined, {signal: o.signal}).catch(() => undefined)
  }
  return false
}

/** Completes a hook's action for this instance; an action that is not waiting (no hook when it launched, done before) is said, not fatal. */
async function complete(o: LifecycleOptions, hook: string): Promise<void> {
  try {
    await o.autoscaling.send(new CompleteLifecycleActionCommand({AutoScalingGroupName: o.group, LifecycleHookName: hook, InstanceId: o.instanceId, LifecycleActionResult: 'CONTINUE'}))
    o.say(`${hook}: completed (CONTINUE)`)
  } catch (error) {
    if (!/No active Lifecycle Action/i.test((error as Error).message)) throw error
    o.say(`${hook}: no action waiting for ${o.instanceId} (${(error as Error).message})`)
  }
}

/**
 * Launch: once the data plane says ready (what makes its health check answer 200), the launch hook is completed
 * and the group puts the instance in service. Then it watches where the instance is headed; once that is
 * Terminated (AWS has deregistered it from the GWLB and waited the deregistration delay), it waits for its last
 * flows up to drainSeconds, runs onTerminate, and completes the terminate hook. Stopped (SIGTERM) before: false.
 */
export async function runLifecycle(o: LifecycleOptions): Promise<boolean> {
  if (!(await until(o, async () => (await dataPlaneReport(o.metrics))?.status === 'ready'))) return false
  await complete(o, o.launchHook)
  if (!(await until(o, () => o.targetState().then((s) => s === 'Terminated', () => false)))) return false
  o.say(`leaving: waiting up to ${o.drainSeconds} s for the last flows`)
  const started = Date.now()
  const drained = await until(o, async () => ((await dataPlaneReport(o.metrics))?.flows ?? 0) === 0, started + o.drainSeconds * 1000)
  o.say(drained ? `drained in ${((Date.now() - started) / 1000).toFixed(1)} s` : `${(await dataPlaneReport(o.metrics))?.flows} flows left after ${o.drainSeconds} s: going anyway`)
  await o.onTerminate()
  await complete(o, o.terminateHook)
  return true
}
