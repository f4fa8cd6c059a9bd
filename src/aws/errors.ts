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
/** Network failures on the way to an endpoint, as Node names them. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH'])

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
    return new UserError('No AWS credentials found', 'set AWS_PROFILE or pass --profile, or run `aws configure` / `aws sso login`', 'no-credentials')
  if (/Region is missing/i.test(message))
    return new UserError('No AWS region is set', 'pass --region or set AWS_REGION', 'no-region')
  if (ACCESS_DENIED.has(code))
    return new UserError(
      `Permission denied${action ? ` for ${action}` : ''}: ${message}`,
      'grant that action to the calling identity and re-run; what was created so far is kept and re-used',
      'access-denied',
    )
  if (/LimitExceeded$|QuotaExceeded/.test(code) && !/RequestLimitExceeded/.test(code))
    return new UserError(
      `AWS quota reached${action ? ` in ${action}` : ''} (${code}): ${message}`,
      'free some of those resources or raise the quota in Service Quotas, then re-run; what was created so far is kept',
      'quota',
    )
  if (code === 'ExpiredToken' || code === 'ExpiredTokenException')
    return new UserError('The AWS session token has expired', 'refresh your credentials (e.g. `aws sso login`) and re-run', 'expired-credentials')
  const network = (error as {code?: string}).code ?? (error as {cause?: {code?: string}}).cause?.code ?? ''
  if (UNREACHABLE.has(network) || code === 'TimeoutError') {
    const endpoint = process.env.AWS_ENDPOINT_URL
    return new UserError(
      `Cannot reach AWS${action ? ` for ${action}` : ''} (${network || code}${endpoint ? ` at ${endpoint}` : ''})`,
      endpoint ? 'check AWS_ENDPOINT_URL, or unset it to use AWS itself' : 'check the network, the proxy settings (HTTPS_PROXY) and --region, then re-run',
      'unreachable',
    )
  }
  if (error instanceof Error) return error
  return new Error(message)
}
