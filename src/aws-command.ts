import {Command, Flags} from '@oclif/core'
import {AwsClients} from './aws/clients.js'
import {BaseCommand} from './base-command.js'

/** A command that talks to AWS: --region/--profile on top of the SDK's credential chain, and the clients. */
export abstract class AwsCommand<T extends typeof Command> extends BaseCommand<T> {
  static override baseFlags = {
    region: Flags.string({
      description: 'AWS region (default: AWS_REGION or the profile\'s region)',
      helpGroup: 'AWS',
      env: 'AWS_REGION',
    }),
    profile: Flags.string({
      description: 'AWS shared-config profile (default: AWS_PROFILE, then the SDK\'s default credential chain)',
      helpGroup: 'AWS',
    }),
  }

  private awsClients?: AwsClients

  override async init(): Promise<void> {
    await super.init()
    // A region the SDK does not know fails here, in one line, not as an unreachable endpoint later.
    await this.aws.region()
  }

  /** AWS clients for --region/--profile, built on first use. */
  protected get aws(): AwsClients {
    const flags = this.flags as {region?: string; profile?: string}
    this.awsClients ??= new AwsClients({region: flags.region, profile: flags.profile})
    return this.awsClients
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.awsClients?.destroy()
    return super.finally(error)
  }
}
