import {Args, Flags} from '@oclif/core'
import {DEFAULT_TIMING, type Timing} from './aws/step.js'
import {UserError} from './errors.js'
import {isUsableName, NAME_RULE} from './aws/spec.js'
import {DEFAULT_LAB, LAB_NAME} from './lab/plan.js'

/** How long commands that wait for AWS poll and wait (hidden: tests shorten them). */
export const timingFlags = {
  'poll-interval': Flags.integer({description: 'milliseconds between polls while waiting for AWS', default: DEFAULT_TIMING.pollMs, hidden: true}),
  'wait-timeout': Flags.integer({description: 'seconds one wait may take', default: DEFAULT_TIMING.timeoutMs / 1000, hidden: true}),
}

export const timingFrom = (flags: {'poll-interval': number; 'wait-timeout': number}): Timing => ({pollMs: flags['poll-interval'], timeoutMs: flags['wait-timeout'] * 1000})

/** A deployment's name, checked as it is parsed: status and destroy refuse what init would (bad usage, exit 2). */
export const nameFlag = (description: string) => Flags.string({char: 'n', description, parse: async (v) => {
  if (!isUsableName(v)) throw new UserError(`"${v}" is not a usable deployment name`, `use ${NAME_RULE}, e.g. --name egress-prod`, 'usage')
  return v
}})

/** --name, for a command that needs one. */
export function deploymentName(name: string | undefined): string {
  if (!name) throw new UserError('which deployment? pass --name', 'gwlb status lists the deployments in the region', 'usage')
  return name
}

/** For commands that change a deployment: how long to wait for another run's lock. */
export const lockFlags = {
  'lock-wait': Flags.integer({description: 'seconds to wait while another gwlb run changes the deployment (default: stop at once)', default: 0, min: 0}),
}

/** Which lab a `gwlb lab` command means: several can run side by side, each with its own namespaces. */
export const labFlag = Flags.string({
  description: 'the lab (its namespaces are gwlb-NAME-NODE)',
  default: DEFAULT_LAB,
  parse: async (v) => {
    if (!LAB_NAME.test(v)) throw new UserError(`--name ${JSON.stringify(v)}: 1–12 lower-case letters, digits and inner hyphens`, 'e.g. --name lab2', 'usage')
    return v
  },
})

/** What follows the first `--` of a command line, as given (oclif's parsed argv comes reordered); none: undefined. */
export function afterDashes(raw: string[]): string[] | undefined {
  const i = raw.indexOf('--')
  return i < 0 ? undefined : raw.slice(i + 1)
}

/** lab fail and lab heal: which appliance, and whether to wait for the GWLB stand-in's verdict on it. */
export const applianceChange = (verdict: 'healthy' | 'unhealthy') => ({
  args: {appliance: Args.string({description: 'appliance-N', required: true})},
  flags: {name: labFlag, wait: Flags.boolean({description: `wait until the stand-in marks it ${verdict}, and say how long that took`})},
})

/** The appliance's sync commands (policy-sync, rules-sync): where the pointer is, and whether to put it in force. */
export const syncFlags = (what: string) => ({
  source: Flags.string({description: `s3://BUCKET/KEY of the ${what} pointer`, required: true}),
  region: Flags.string({description: 'the bucket\'s region', required: true}),
  endpoint: Flags.string({description: 'an S3 endpoint other than AWS\'s (an emulator)', hidden: true}),
  reload: Flags.boolean({description: 'have it put in force now (--no-reload: only the file, as at first boot)', default: true, allowNo: true}),
})
