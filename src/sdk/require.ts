import {createRequire} from 'node:module'

/**
 * How gwlb loads the AWS SDK's clients: with require, not import. Each client is one CommonJS bundle in a package
 * without a "type", and Node parses such a file twice when it is imported (once to tell its format): 0.45 s of
 * every gwlb start that talks to AWS. The files beside this one hand out the parts of each client gwlb uses.
 */
export const sdkRequire = createRequire(import.meta.url)
