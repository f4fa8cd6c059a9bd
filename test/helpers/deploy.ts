import type {AwsClients} from '../../src/aws/clients.js'
import type {CutoverGate} from '../../src/aws/cutover.js'
import {applyDeployment, DEFAULT_APPLY_OPTIONS, prepare} from '../../src/aws/deployment.js'
import {completeFromFlags} from '../../src/aws/settings-table.js'
import type {PartialSpec} from '../../src/aws/spec.js'
import type {Timing} from '../../src/aws/step.js'
import {fakePackage} from './fake-package.js'
import type {Network} from './network-fixture.js'

/** The spec of initFlags(): every workload table's default route through the endpoints. */
export const specFor = (net: Network, more: PartialSpec = {}) => completeFromFlags({
  name: 'egress', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natSubnets: net.publicSubnets,
  routes: net.workloadRouteTables.map((routeTableId) => ({routeTableId, cidr: '0.0.0.0/0'})), package: fakePackage(), ...more,
})

/** init's apply in this process (so that a test can sequence what AWS answers), with short waits. */
export async function apply(aws: AwsClients, net: Network, options: {more?: PartialSpec; gate?: CutoverGate; timing?: Timing; progress?: string[]} = {}) {
  const ctx = await prepare(aws, specFor(net, options.more), options.timing ?? {pollMs: 10, timeoutMs: 10_000}, {...DEFAULT_APPLY_OPTIONS, cutoverGate: options.gate ?? DEFAULT_APPLY_OPTIONS.cutoverGate})
  return applyDeployment(ctx, 'silent')
}

type Middleware = (next: (args: unknown) => Promise<unknown>, context: {commandName?: string}) => (args: unknown) => Promise<unknown>

/** Adds a middleware to every client of the factory (to record calls, or to sequence what AWS answers). */
export function intercept(aws: AwsClients, middleware: Middleware, name: string): void {
  for (const client of [aws.ec2, aws.elb, aws.iam, aws.autoscaling, aws.ssm] as unknown as {middlewareStack: {add(mw: Middleware, o: unknown): void}}[])
    client.middlewareStack.add(middleware, {step: 'initialize', name})
}

/** Records the name of every AWS call made through the factory's clients. */
export function recordCalls(aws: AwsClients): string[] {
  const calls: string[] = []
  intercept(aws, (next, context) => async (args) => {
    calls.push(context.commandName ?? '?')
    return next(args)
  }, 'record')
  return calls
}
