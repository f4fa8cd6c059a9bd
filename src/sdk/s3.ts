import type * as Sdk from '@aws-sdk/client-s3'
import {sdkRequire} from './require.js'

export const {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetBucketEncryptionCommand, GetBucketPolicyCommand,
  GetBucketTaggingCommand, GetObjectCommand, GetPublicAccessBlockCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, PutBucketEncryptionCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand,
  PutBucketTaggingCommand, PutObjectCommand, PutPublicAccessBlockCommand, S3Client
} = sdkRequire('@aws-sdk/client-s3') as typeof Sdk
