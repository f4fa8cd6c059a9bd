import type * as Sdk from '@aws-sdk/client-cloudwatch-logs'
import {sdkRequire} from './require.js'

export const {
  CreateLogGroupCommand, CreateLogStreamCommand, DeleteLogGroupCommand, DescribeLogGroupsCommand,
  FilterLogEventsCommand, GetLogEventsCommand, ListTagsForResourceCommand, PutLogEventsCommand,
  PutRetentionPolicyCommand
} = sdkRequire('@aws-sdk/client-cloudwatch-logs') as typeof Sdk
