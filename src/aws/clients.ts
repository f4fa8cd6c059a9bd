import {AutoScalingClient} from '@aws-sdk/client-auto-scaling'
import {EC2Client} from '@aws-sdk/client-ec2'
import {ElasticLoadBalancingV2Client} from '@aws-sdk/client-elastic-load-balancing-v2'
import {fromNodeProviderChain} from '@aws-sdk/credential-providers'
import {IAMClient} from '@aws-sdk/client-iam'
import {SSMClient} from '@aws-sdk/client-ssm'
import {STSClient} from '@aws-sdk/client-sts'

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

/**
 * One place that builds every AWS SDK client the tool uses, so that region, profile and credentials are
 * resolved the same way everywhere. AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) are honoured by the
 * SDK itself, which is how tests point the whole tool at the emulator.
 */
export class AwsClients {
  private readonly config: ClientConfig
  private readonly cache = new Map<string, unknown>()

  constructor(target: AwsTarget = {}) {
    this.config = {
      region: target.region,
      credentials: fromNodeProviderChain(target.profile ? {profile: target.profile} : {}),
      // The SDK's standard retry mode already backs off on throttling; a few more attempts ride out bursts.
      maxAttempts: 6,
    }
    if (target.profile) process.env.AWS_PROFILE = target.profile
  }

  get ec2(): EC2Client {
    return this.client('ec2', () => new EC2Client(this.config))
  }

  get elb(): ElasticLoadBalancingV2Client {
    return this.client('elasticloadbalancing', () => new ElasticLoadBalancingV2Client(this.config))
  }

  get autoscaling(): AutoScalingClient {
    return this.client('autoscaling', () => new AutoScalingClient(this.config))
  }

  get iam(): IAMClient {
    return this.client('iam', () => new IAMClient(this.config))
  }

  get ssm(): SSMClient {
    return this.client('ssm', () => new SSMClient(this.config))
  }

  get sts(): STSClient {
    return this.client('sts', () => new STSClient(this.config))
  }

  /** The region the clients resolved (flag, environment or profile). */
  async region(): Promise<string> {
    return this.ec2.config.region()
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
