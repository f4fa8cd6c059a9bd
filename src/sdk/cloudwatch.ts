import type * as Sdk from '@aws-sdk/client-cloudwatch'
import {sdkRequire} from './require.js'

export const {CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand} = sdkRequire('@aws-sdk/client-cloudwatch') as typeof Sdk
