#!/usr/bin/env node
import {execute} from '@oclif/core'

// gwlb supports Node.js 20 on purpose (the appliance AMI's LTS); the SDK's upgrade nag is noise to operators.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
await execute({dir: import.meta.url})
