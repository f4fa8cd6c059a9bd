#!/usr/bin/env node
import {execute} from '@oclif/core'

// Node.js 20 still runs gwlb (an operator's laptop may have it); the SDK's upgrade nag is noise to operators.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
await execute({dir: import.meta.url})
