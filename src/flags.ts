import {Flags} from '@oclif/core'
import {DEFAULT_TIMING} from './aws/deployment.js'
import type {Timing} from './aws/step.js'

/** How long commands that wait for AWS poll and wait (hidden: tests shorten them). */
export const timingFlags = {
  'poll-interval': Flags.integer({description: 'milliseconds between polls while waiting for AWS', default: DEFAULT_TIMING.pollMs, hidden: true}),
  'wait-timeout': Flags.integer({description: 'seconds one wait may take', default: DEFAULT_TIMING.timeoutMs / 1000, hidden: true}),
}

export const timingFrom = (flags: {'poll-interval': number; 'wait-timeout': number}): Timing => ({pollMs: flags['poll-interval'], timeoutMs: flags['wait-timeout'] * 1000})

export const nameFlag = (description: string) => Flags.string({char: 'n', description})

/** For commands that change a deployment: how long to wait for another run's lock. */
export const lockFlags = {
  'lock-wait': Flags.integer({description: 'seconds to wait while another gwlb run changes the deployment (default: stop at once)', default: 0, min: 0}),
}
