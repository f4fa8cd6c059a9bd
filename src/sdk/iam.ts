import type * as Sdk from '@aws-sdk/client-iam'
import {sdkRequire} from './require.js'

export const {
  AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, DeleteInstanceProfileCommand,
  DeleteRoleCommand, DeleteRolePolicyCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand,
  ListRolePoliciesCommand, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand
} = sdkRequire('@aws-sdk/client-iam') as typeof Sdk
