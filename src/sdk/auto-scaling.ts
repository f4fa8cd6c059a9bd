import type * as Sdk from '@aws-sdk/client-auto-scaling'
import {sdkRequire} from './require.js'

export const {
  CompleteLifecycleActionCommand, CreateAutoScalingGroupCommand, DeleteAutoScalingGroupCommand,
  DeleteLifecycleHookCommand, DeletePolicyCommand, DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand, DescribeLifecycleHooksCommand, DescribePoliciesCommand,
  DescribeScalingActivitiesCommand, PutLifecycleHookCommand, PutScalingPolicyCommand, StartInstanceRefreshCommand,
  UpdateAutoScalingGroupCommand
} = sdkRequire('@aws-sdk/client-auto-scaling') as typeof Sdk
