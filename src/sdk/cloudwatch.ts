import type * as Sdk from '@aws-sdk/client-cloudwatch'
import {sdkRequire} from './require.js'

export const {GetMetricDataCommand} = sdkRequire('@aws-sdk/client-cloudwatch') as typeof Sdk
