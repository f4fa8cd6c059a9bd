import {describe, expect, it} from 'vitest'
import {explainAwsError} from '../../src/aws/errors.js'
import {UserError} from '../../src/errors.js'

const sdkError = (name: string, message: string) => Object.assign(new Error(message), {name})

describe('AWS errors become one actionable line', () => {
  it('names the action that was denied', () => {
    const e = explainAwsError(sdkError('UnauthorizedOperation', 'You are not authorized to perform this operation.'), 'ec2:CreateVpcEndpoint')
    expect(e).toBeInstanceOf(UserError)
    expect((e as UserError).line).toMatch(/^Permission denied for ec2:CreateVpcEndpoint: .* — grant that action/)
  })

  it('says how to supply missing credentials or region', () => {
    expect((explainAwsError(sdkError('CredentialsProviderError', 'Could not load credentials from any providers')) as UserError).line)
      .toMatch(/--profile/)
    expect((explainAwsError(new Error('Region is missing')) as UserError).line).toMatch(/--region or set AWS_REGION/)
  })

  it('says which quota was reached and what to do', () => {
    const e = Object.assign(sdkError('AddressLimitExceeded', 'The maximum number of addresses has been reached.'), {$action: 'ec2:AllocateAddress'})
    expect((explainAwsError(e) as UserError).line).toBe(
      'AWS quota reached in ec2:AllocateAddress (AddressLimitExceeded): The maximum number of addresses has been reached. — free some of those resources or raise the quota in Service Quotas, then re-run; what was created so far is kept',
    )
  })

  it('says expired credentials are to be refreshed, and names each kind for --json', () => {
    const expired = explainAwsError(sdkError('ExpiredTokenException', 'The security token included in the request is expired')) as UserError
    expect(expired.line).toBe('The AWS session token has expired — refresh your credentials (e.g. `aws sso login`) and re-run')
    expect(expired.code).toBe('expired-credentials')
    expect((explainAwsError(sdkError('CredentialsProviderError', 'Could not load credentials from any providers')) as UserError).code).toBe('no-credentials')
    expect((explainAwsError(sdkError('AccessDenied', 'no')) as UserError).code).toBe('access-denied')
  })

  it('passes other errors through unchanged', () => {
    const other = sdkError('InvalidVpcID.NotFound', "The vpc ID 'vpc-1' does not exist")
    expect(explainAwsError(other)).toBe(other)
  })
})
