import type * as Sdk from '@aws-sdk/client-elastic-load-balancing-v2'
import {sdkRequire} from './require.js'

export const {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand,
  DeleteLoadBalancerCommand, DeleteTargetGroupCommand, DescribeListenerAttributesCommand, DescribeListenersCommand,
  DescribeLoadBalancerAttributesCommand, DescribeLoadBalancersCommand, DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, DescribeTargetHealthCommand,
  ModifyListenerAttributesCommand, ModifyLoadBalancerAttributesCommand, ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand
} = sdkRequire('@aws-sdk/client-elastic-load-balancing-v2') as typeof Sdk
