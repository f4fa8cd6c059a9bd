import type * as Sdk from '@aws-sdk/client-ec2'
import {sdkRequire} from './require.js'

export const {
  AcceptVpcEndpointConnectionsCommand, AllocateAddressCommand, AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand, CreateLaunchTemplateVersionCommand, CreateNatGatewayCommand, CreateRouteCommand,
  CreateSecurityGroupCommand, CreateTagsCommand, CreateVpcEndpointCommand,
  CreateVpcEndpointServiceConfigurationCommand, DeleteLaunchTemplateCommand, DeleteNatGatewayCommand,
  DeleteRouteCommand, DeleteSecurityGroupCommand, DeleteTagsCommand, DeleteVpcEndpointServiceConfigurationsCommand,
  DeleteVpcEndpointsCommand, DescribeAddressesCommand, DescribeImagesCommand, DescribeInstanceAttributeCommand,
  DescribeInstanceTypesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand,
  DescribeLaunchTemplateVersionsCommand, DescribeLaunchTemplatesCommand, DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeTagsCommand,
  DescribeTransitGatewayVpcAttachmentsCommand, DescribeVpcEndpointConnectionsCommand,
  DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointServicePermissionsCommand,
  DescribeVpcEndpointsCommand, DescribeVpcsCommand, ModifyInstanceAttributeCommand, ModifyLaunchTemplateCommand,
  ModifyTransitGatewayVpcAttachmentCommand, ModifyVpcEndpointCommand, ModifyVpcEndpointServiceConfigurationCommand,
  ModifyVpcEndpointServicePermissionsCommand, ReleaseAddressCommand, ReplaceRouteCommand,
  RevokeSecurityGroupIngressCommand
} = sdkRequire('@aws-sdk/client-ec2') as typeof Sdk
