/** What the fleet scales on (`init --scale-on`): a metric and its target per appliance, or nothing. */
export type ScaleOn = {metric: 'cpu' | 'network' | 'packets'; target: number} | 'none'

/** `cpu:60` (percent), `network:500` (Mbit/s received per appliance), `packets:50000` (per second, per appliance), or none; undefined if it is none of them. */
export function parseScaleOn(value: string): ScaleOn | undefined {
  if (value === 'none') return 'none'
  const m = /^(cpu|network|packets):(\d+)$/.exec(value)
  if (!m) return undefined
  const target = Number(m[2])
  if (m[1] === 'cpu') return target >= 1 && target <= 100 ? {metric: 'cpu', target} : undefined
  return target >= 1 ? {metric: m[1] as 'network' | 'packets', target} : undefined
}
