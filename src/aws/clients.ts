import type {AutoScalingClient} from '@aws-sdk/client-auto-scaling'
import type {CloudWatchClient} from '@aws-sdk/client-cloudwatch'
import type {CloudWatchLogsClient} from '@aws-sdk/client-cloudwatch-logs'
import type {EC2Client} from '@aws-sdk/client-ec2'
import type {ElasticLoadBalancingV2Client} from '@aws-sdk/client-elastic-load-balancing-v2'
import type {IAMClient} from '@aws-sdk/client-iam'
import type {S3Client} from '@aws-sdk/client-s3'
import type {SSMClient} from '@aws-sdk/client-ssm'
import type {STSClient} from '@aws-sdk/client-sts'
import type {fromNodeProviderChain} from '@aws-sdk/credential-providers'
import {createRequire} from 'node:module'
import {UserError} from '../errors.js'

/**
 * The SDK is loaded on first use (synchronously, from its CommonJS build): the appliance's data plane and
 * `--help` never pay its start-up time and memory.
 */
const load = createRequire(import.meta.url)

export interface AwsTarget {
  /** --region; falls back to AWS_REGION / the profile's region through the SDK. */
  region?: string
  /** --profile; falls back to AWS_PROFILE through the SDK. */
  profile?: string
}

type Middleware = (next: (args: unknown) => Promise<unknown>, context: {commandName?: string}) => (args: unknown) => Promise<unknown>
type WithMiddleware = {middlewareStack: {add(middleware: Middleware, options: {step: 'initialize'; name: string}): void}}

type ClientConfig = {
  region?: string
  credentials: ReturnType<typeof fromNodeProviderChain>
  maxAttempts: number
}

type Partition = (region: string) => {description?: string; dnsSuffix: string}

/** What the SDK's own partition table says of a region: whether it is one it knows, and its DNS suffix. */
export function regionFacts(region: string): {known: boolean; dnsSuffix: string} {
  const facts = (load('@aws-sdk/core/client') as {partition: Partition}).partition(region)
  return {known: facts.description !== undefined, dnsSuffix: facts.dnsSuffix}
}

/**
 * One place that builds every AWS SDK client the tool uses, so that region, profile and credentials are
 * resolved the same way everywhere. AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) are honoured by the
 * SDK itself, which is how tests point the whole tool at the emulator.
 */
export class AwsClients {
  private readonly config: ClientConfig
  private readonly cache = new Map<string, unknown>()
  private accountId?: Promise<string>

  constructor(target: AwsTarget = {}) {
    this.config = {
      region: target.region,
      credentials: (load('@aws-sdk/credential-providers') as {fromNodeProviderChain: typeof fromNodeProviderChain}).fromNodeProviderChain(
        target.profile ? {profile: target.profile} : {},
      ),
      // The SDK's standard retry mode already backs off on throttling; a few more attempts ride out bursts.
      maxAttempts: 6,
    }
    if (target.profile) process.env.AWS_PROFILE = target.profile
  }

  get ec2(): EC2Client {
    return this.client('ec2', () => new (load('@aws-sdk/client-ec2') as {EC2Client: typeof EC2Client}).EC2Client(this.config))
  }

  get elb(): ElasticLoadBalancingV2Client {
    return this.client('elasticloadbalancing', () => new (load('@aws-sdk/client-elastic-load-balancing-v2') as {ElasticLoadBalancingV2Client: typeof ElasticLoadBalancingV2Client}).ElasticLoadBalancingV2Client(this.config))
  }

  get autoscaling(): AutoScalingClient {
    return this.client('autoscaling', () => new (load('@aws-sdk/client-auto-scaling') as {AutoScalingClient: typeof AutoScalingClient}).AutoScalingClient(this.config))
  }

  get iam(): IAMClient {
    return this.client('iam', () => new (load('@aws-sdk/client-iam') as {IAMClient: typeof IAMClient}).IAMClient(this.config))
  }

  get ssm(): SSMClient {
    return this.client('ssm', () => new (load('@aws-sdk/client-ssm') as {SSMClient: typeof SSMClient}).SSMClient(this.config))
  }

  get logs(): CloudWatchLogsClient {
    return this.client('logs', () => new (load('@aws-sdk/client-cloudwatch-logs') as {CloudWatchLogsClient: typeof CloudWatchLogsClient}).CloudWatchLogsClient(this.config))
  }

  get cloudwatch(): CloudWatchClient {
    return this.client('cloudwatch', () => new (load('@aws-sdk/client-cloudwatch') as {CloudWatchClient: typeof CloudWatchClient}).CloudWatchClient(this.config))
  }

  get s3(): S3Client {
    // An emulator or private endpoint (AWS_ENDPOINT_URL…) answers on its own host name, not on bucket.host.
    return this.client('s3', () => new (load('@aws-sdk/client-s3') as {S3Client: typeof S3Client}).S3Client({...this.config, forcePathStyle: Boolean(this.s3Endpoint)}))
  }

  /** The S3 endpoint the environment points the tool at (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), if any. */
  get s3Endpoint(): string | undefined {
    return process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL
  }

  get sts(): STSClient {
    return this.client('sts', () => new (load('@aws-sdk/client-sts') as {STSClient: typeof STSClient}).STSClient(this.config))
  }

  /** The account of the credentials in use (asked once). */
  async account(): Promise<string> {
    this.accountId ??= (async () => {
      const {GetCallerIdentityCommand} = load('@aws-sdk/client-sts') as typeof import('@aws-sdk/client-sts')
      return (await this.sts.send(new GetCallerIdentityCommand({}))).Account!
    })()
    return this.accountId
  }

  /** The region the clients resolved (flag, environment or profile), if the SDK knows it. */
  async region(): Promise<string> {
    const region = await this.ec2.config.region()
    if (!regionFacts(region).known)
      throw new UserError(`"${region}" is not an AWS region the SDK knows`, 'pass --region with one such as eu-west-1 (`aws ec2 describe-regions` lists those of your account)', 'usage')
    return region
  }

  destroy(): void {
    for (const c of this.cache.values()) (c as {destroy(): void}).destroy()
    this.cache.clear()
  }

  /** `service` is the IAM prefix of the client's actions: failures are labelled `service:Action`. */
  private client<T>(service: string, make: () => T): T {
    if (!this.cache.has(service)) {
      const client = make()
      ;(client as WithMiddleware).middlewareStack.add(
        (next, context) => async (args) => {
          try {
            return await next(args)
          } catch (error) {
            if (error && typeof error === 'object') Object.assign(error, {$action: `${service}:${context.commandName?.replace(/Command$/, '')}`})
            throw error
          }
        },
        {step: 'initialize', name: 'gwlbNameFailedAction'},
      )
      this.cache.set(service, client)
    }
    return this.cache.get(service) as T
  }
}
