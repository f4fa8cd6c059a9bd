import type * as Sdk from '@aws-sdk/client-sts'
import {sdkRequire} from './require.js'

export const {
  GetCallerIdentityCommand
} = sdkRequire('@aws-sdk/client-sts') as typeof Sdk
