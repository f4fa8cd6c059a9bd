import {UserError} from '../errors.js'

interface SdkError {
  name?: string
  /** `service:Action` of the failed call, set by the client factory. */
  $action?: string
  message?: string
  Code?: string
  $metadata?: {httpStatusCode?: number}
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthFailure'])

/**
 * Turns the AWS SDK's errors into one line that says what went wrong and what to do. `action` names the API
 * call that failed, so that a missing permission says which one.
 */
export function explainAwsError(error: unknown, action?: string): Error {
  if (error instanceof UserError) return error
  const e = (error ?? {}) as SdkError
  action ??= e.$action
  const code = e.name ?? e.Code ?? ''
  const message = (e.message ?? String(error)).split('\n')[0] ?? ''
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(message))
    return new UserError('No AWS credentials found', 'set AWS_PROFILE or pass --profile, or run `aws configure` / `aws sso login`')
  if (/Region is missing/i.test(message))
    return new UserError('No AWS region is set', 'pass --region or set AWS_REGION')
  if (ACCESS_DENIED.has(code))
    return new UserError(
      `Permission denied${action ? ` for ${action}` : ''}: ${message}`,
      'grant that action to the calling identity and re-run; what was created so far is kept and re-used',
    )
  if (/LimitExceeded$|QuotaExceeded/.test(code) && !/RequestLimitExceeded/.test(code))
    return new UserError(
      `AWS quota reached${action ? ` in ${action}` : ''} (${code}): ${message}`,
      'free some of those resources or raise the quota in Service Quotas, then re-run; what was created so far is kept',
    )
  if (code === 'ExpiredToken' || code === 'ExpiredTokenException')
    return new UserError('The AWS session token has expired', 'refresh your credentials (e.g. `aws sso login`) and re-run')
  if (error instanceof Error) return error
  return new Error(message)
}
