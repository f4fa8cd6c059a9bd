import type * as Sdk from '@aws-sdk/client-ssm'
import {sdkRequire} from './require.js'

export const {
  DeleteParameterCommand, GetParameterCommand, GetParametersByPathCommand, PutParameterCommand
} = sdkRequire('@aws-sdk/client-ssm') as typeof Sdk
