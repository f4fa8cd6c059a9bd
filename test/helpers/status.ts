import type {DeploymentStatus, StepStatus} from '../../src/aws/status.js'

/** One step's part of a deployment's status. */
export function step(status: DeploymentStatus, id: string): StepStatus {
  const found = status.steps.find((s) => s.id === id)
  if (!found) throw new Error(`status has no step ${id}`)
  return found
}

/** The detail a step reports (its --json part), typed as that step exports it. */
export const detail = <T>(status: DeploymentStatus, id: string): T => step(status, id).detail as T
