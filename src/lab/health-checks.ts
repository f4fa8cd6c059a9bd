import {request} from 'node:http'
import {connect} from 'node:net'

/** The target group's health check, as `gwlb init` makes it (HTTP GET / or a TCP connect on the health port). */
export interface HealthCheckSettings {
  protocol: 'HTTP' | 'TCP'
  port: number
  intervalSeconds: number
  timeoutSeconds: number
  healthyThreshold: number
  unhealthyThreshold: number
}

export type TargetState = 'initial' | 'healthy' | 'unhealthy'

export interface CheckedTarget {
  state: TargetState
  /** When the state last changed (ISO). */
  since: string
  /** Checks in a row that agree with each other, counted towards the next threshold. */
  streak: number
  last?: {ok: boolean; detail: string; at: string}
}

/** One check: ok for HTTP 200–399 (what a target group's default matcher takes) or a TCP connect. */
export function probe(address: string, s: Pick<HealthCheckSettings, 'protocol' | 'port' | 'timeoutSeconds'>): Promise<{ok: boolean; detail: string}> {
  const timeout = s.timeoutSeconds * 1000
  return new Promise((resolve) => {
    if (s.protocol === 'TCP') {
      const socket = connect({host: address, port: s.port, timeout})
      socket.once('connect', () => (socket.destroy(), resolve({ok: true, detail: 'connected'})))
      socket.once('timeout', () => (socket.destroy(), resolve({ok: false, detail: 'timed out'})))
      socket.once('error', (e: NodeJS.ErrnoException) => resolve({ok: false, detail: e.code ?? e.message}))
      return
    }
    const req = request({host: address, port: s.port, path: '/', timeout, agent: false}, (res) => {
      res.resume()
      const code = res.statusCode ?? 0
      resolve({ok: code >= 200 && code < 400, detail: `HTTP ${code}`})
    })
    req.once('timeout', () => (req.destroy(), resolve({ok: false, detail: 'timed out'})))
    req.once('error', (e: NodeJS.ErrnoException) => resolve({ok: false, detail: e.code ?? e.message}))
    req.end()
  })
}

/**
 * Checks every target each interval and moves it between states by the thresholds: `initial` and `unhealthy`
 * become `healthy` after healthyThreshold passes in a row, `healthy` becomes `unhealthy` after
 * unhealthyThreshold failures in a row; a failure while `initial` needs as many to count as unhealthy.
 */
export class HealthChecker {
  readonly health: CheckedTarget[]
  private timer?: NodeJS.Timeout

  constructor(
    private readonly addresses: string[],
    readonly settings: HealthCheckSettings,
    private readonly onChange: (target: number, health: CheckedTarget) => void = () => undefined,
  ) {
    const since = new Date().toISOString()
    this.health = addresses.map(() => ({state: 'initial', since, streak: 0}))
  }

  start(): void {
    const round = () => void Promise.all(this.addresses.map((a, i) => this.check(i, a)))
    round()
    this.timer = setInterval(round, this.settings.intervalSeconds * 1000)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  healthy(): boolean[] {
    return this.health.map((h) => h.state === 'healthy')
  }

  private async check(target: number, address: string): Promise<void> {
    const result = await probe(address, this.settings)
    const h = this.health[target]!
    const agrees = h.last?.ok === result.ok
    h.last = {...result, at: new Date().toISOString()}
    h.streak = agrees ? h.streak + 1 : 1
    const next: TargetState | undefined =
      result.ok && h.state !== 'healthy' && h.streak >= this.settings.healthyThreshold ? 'healthy'
        : !result.ok && h.state !== 'unhealthy' && h.streak >= this.settings.unhealthyThreshold ? 'unhealthy'
          : undefined
    if (next) {
      h.state = next
      h.since = h.last.at
      this.onChange(target, h)
    }
  }
}
