import {afterAll, beforeAll} from 'vitest'
import {ApplianceBed} from './appliance-bed.js'

/** A bed for the enclosing suite: `gwlb appliance run ...args` running before its tests, all removed after. */
export function useRunningAppliance(...args: string[]): () => ApplianceBed {
  let bed: ApplianceBed | undefined
  beforeAll(async () => {
    bed = new ApplianceBed()
    await bed.setUp()
    await bed.start(...args)
  })
  afterAll(async () => bed?.cleanup())
  return () => bed!
}
