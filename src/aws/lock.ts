import {DeleteParameterCommand, GetParameterCommand, PutParameterCommand} from '../sdk/ssm.js'
import {randomUUID} from 'node:crypto'
import {hostname} from 'node:os'
import {UserError} from '../errors.js'
import type {AwsClients} from './clients.js'
import {tags} from './tags.js'
import {errorCode} from './wait.js'

/** Who is changing a deployment: kept in AWS, so that runs on two machines see each other. */
export interface LockHolder {
  id: string
  command: string
  host: string
  pid: number
  since: string
  /** The lock lapses then unless its holder renews it: a run killed with -9 does not hold it for ever. */
  expires: string
}

export const lockParameter = (deployment: string) => `/gwlb/${deployment}/lock`

/** How long a lock outlives its last renewal, and how often a live run renews it. */
export const LOCK_LEASE_MS = 60_000

async function readLock(aws: AwsClients, name: string): Promise<LockHolder | undefined> {
  try {
    const {Parameter} = await aws.ssm.send(new GetParameterCommand({Name: name}))
    return JSON.parse(Parameter!.Value!) as LockHolder
  } catch (error) {
    if (errorCode(error) === 'ParameterNotFound') return undefined
    throw error
  }
}

const heldBy = (h: LockHolder) => `${h.command} on ${h.host} (pid ${h.pid}) since ${h.since}`

/** One run's hold on a deployment: released at the end, renewed while it lasts. */
export interface DeploymentLock {
  holder: LockHolder
  release(): Promise<void>
}

/**
 * Takes the deployment's lock: an SSM parameter created only if absent (PutParameter without Overwrite is
 * atomic), so two runs never interleave their changes. A lock whose holder stopped renewing it is taken
 * over; a live one is waited for up to `waitMs`, then refused with who holds it.
 */
export async function acquireLock(
  aws: AwsClients, deployment: string, command: string,
  options: {waitMs?: number; leaseMs?: number; pollMs?: number; progress?: (message: string) => void} = {},
): Promise<DeploymentLock> {
  const name = lockParameter(deployment)
  const leaseMs = options.leaseMs ?? LOCK_LEASE_MS
  const holder: LockHolder = {id: randomUUID(), command, host: hostname(), pid: process.pid, since: new Date().toISOString(), expires: ''}
  const value = () => JSON.stringify({...holder, expires: new Date(Date.now() + leaseMs).toISOString()})
  const deadline = Date.now() + (options.waitMs ?? 0)
  for (;;) {
    try {
      await aws.ssm.send(new PutParameterCommand({Name: name, Type: 'String', Value: value(), Description: `gwlb: the run changing ${deployment}`, Tags: tags(deployment, name)}))
      break
    } catch (error) {
      if (errorCode(error) !== 'ParameterAlreadyExists') throw error
    }
    const current = await readLock(aws, name)
    if (!current) continue // released between the two calls
    if (Date.parse(current.expires) <= Date.now()) {
      // Its holder stopped renewing it (killed, or cut off): take it over.
      await aws.ssm.send(new DeleteParameterCommand({Name: name})).catch(() => undefined)
      continue
    }
    if (Date.now() >= deadline)
      throw new UserError(`deployment ${deployment} is locked: another gwlb run is changing it: ${heldBy(current)}`,
        `wait for it to finish (or pass --lock-wait SECONDS); a run that was killed lets go by ${current.expires}`, 'locked')
    options.progress?.(`waiting for ${heldBy(current)}`)
    await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 5000, Math.max(deadline - Date.now(), 1))))
  }

  const renew = async () => {
    const current = await readLock(aws, name).catch(() => undefined)
    if (current?.id === holder.id) await aws.ssm.send(new PutParameterCommand({Name: name, Type: 'String', Value: value(), Overwrite: true})).catch(() => undefined)
  }
  const timer = setInterval(() => void renew(), leaseMs / 3)
  timer.unref()
  return {
    holder,
    async release() {
      clearInterval(timer)
      const current = await readLock(aws, name)
      if (current?.id === holder.id) await aws.ssm.send(new DeleteParameterCommand({Name: name})).catch(() => undefined)
    },
  }
}
