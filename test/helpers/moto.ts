import {existsSync, readFileSync} from 'node:fs'
import {beforeAll, beforeEach, inject} from 'vitest'
import {AwsClients} from '../../src/aws/clients.js'
import {fakePackage} from './fake-package.js'

export const TEST_REGION = 'us-east-1'

/**
 * Points the tool's own AWS client factory at the run's moto server (through AWS_ENDPOINT_URL, as a user
 * would) with throw-away credentials and a small stand-in package to stage, and empties the emulator before this file's tests (and, with
 * `{resetEach: true}`, before each test).
 */
export function useMoto(options: {resetEach?: boolean} = {}): {endpoint: string; clients: () => AwsClients} {
  const endpoint = inject('motoEndpoint')
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: TEST_REGION,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // What init stages for the appliances (its --package flag's variable), unless a test says otherwise.
    GWLB_PACKAGE: fakePackage(),
  })
  delete process.env.AWS_PROFILE
  const reset = async () => {
    const response = await fetch(`${endpoint}/moto-api/reset`, {method: 'POST'})
    if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`)
  }
  if (options.resetEach) beforeEach(reset)
  else beforeAll(reset)
  return {endpoint, clients: () => new AwsClients({region: TEST_REGION})}
}

/** The lifecycle actions the emulator saw completed (it keeps no instance waiting, so it writes them down). */
export function completedLifecycleActions(): {group: string; hook: string; instance: string; result: string}[] {
  const records = inject('motoRecords')
  return existsSync(records) ? readFileSync(records, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as {call: string}).filter((r) => r.call === 'CompleteLifecycleAction') as never : []
}
