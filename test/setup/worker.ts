import {afterEach} from 'vitest'

// Tests that run the binary synchronously (spawnSync) never let the worker's event loop turn, and between tests
// vitest awaits only promises: a file of them is one long block, in which the answer to the worker's progress
// report (birpc, a fixed 60 s timeout) sits unread, and the timer fires first. One turn of the loop per test.
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)))

// Vitest sets NODE_ENV=test, which every gwlb the tests start would inherit: oclif then registers tsx and runs
// the TypeScript sources (1 s more of each start, and not what users run). The tests run the build, as users do.
delete process.env.NODE_ENV
