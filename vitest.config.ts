import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/moto.global.ts'],
    setupFiles: ['test/setup/worker.ts'],
    // Test files share one moto server (reset per file) and the host's network stack: one file at a time.
    fileParallelism: false,
    pool: 'forks',
    // Two lanes share the machine's two CPUs (scripts/test.mjs): an end-to-end test through the binary may take twice its time alone.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // gwlb supports Node 20 on purpose; the AWS SDK's upgrade notice is noise in test output.
    env: {AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true'},
  },
})
