import {afterEach} from 'vitest'

// Tests that run the binary synchronously (spawnSync) never let the worker's event loop turn, and between tests
// vitest awaits only promises: a file of them is one long block, in which the answer to the worker's progress
// report (birpc, a fixed 60 s timeout) sits unread, and the timer fires first. One turn of the loop per test.
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)))
