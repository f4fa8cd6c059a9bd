import {DeleteParameterCommand, GetParameterCommand, PutParameterCommand} from '@aws-sdk/client-ssm'
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import type {AwsClients} from '../../src/aws/clients.js'
import {applyDeployment, planDeployment, prepare} from '../../src/aws/deployment.js'
import {completeFromFlags} from '../../src/aws/settings-table.js'
import {deploymentStatus} from '../../src/aws/status.js'
import {done, type Scope, type Step} from '../../src/aws/step.js'
import {STEPS} from '../../src/aws/steps/index.js'
import {destroyDeployment} from '../../src/aws/teardown.js'
import {gwlbJson} from '../helpers/cli.js'
import {fakePackage} from '../helpers/fake-package.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork} from '../helpers/network-fixture.js'

const {clients} = useMoto({resetEach: true})
const scope = (aws: AwsClients): Scope => ({aws, deployment: 'egress', region: 'us-east-1', timing: {pollMs: 10, timeoutMs: 5000}, progress: () => undefined})

/** Counts the AWS calls made through these clients, by command. */
function countCalls(aws: AwsClients): Map<string, number> {
  const calls = new Map<string, number>()
  for (const client of [aws.ec2, aws.elb, aws.autoscaling, aws.iam, aws.ssm, aws.s3] as {middlewareStack: {add(mw: unknown, o: unknown): void}}[])
    client.middlewareStack.add(
      (next: (a: unknown) => Promise<unknown>, context: {commandName: string}) => async (args: unknown) => {
        calls.set(context.commandName, (calls.get(context.commandName) ?? 0) + 1)
        return next(args)
      },
      {step: 'initialize', name: 'countCalls'},
    )
  return calls
}

/** A step of the kind a newcomer adds: one SSM parameter of the deployment's own. */
const dummy: Step = {
  id: 'dummy',
  title: 'Dummy parameter',
  needs: ['settings'],
  enabled: () => true,
  async find(ctx) {
    const found = await ctx.aws.ssm.send(new GetParameterCommand({Name: `/gwlb/${ctx.spec.name}/dummy`})).catch(() => undefined)
    return found ? done([{type: 'ssm-parameter', id: `/gwlb/${ctx.spec.name}/dummy`}]) : {resources: [], missing: ['the dummy parameter']}
  },
  async create(ctx) {
    await ctx.aws.ssm.send(new PutParameterCommand({Name: `/gwlb/${ctx.spec.name}/dummy`, Type: 'String', Value: 'dummy'}))
    return done([{type: 'ssm-parameter', id: `/gwlb/${ctx.spec.name}/dummy`}])
  },
  async owned(scope) {
    const found = await scope.aws.ssm.send(new GetParameterCommand({Name: `/gwlb/${scope.deployment}/dummy`})).catch(() => undefined)
    return found ? [{type: 'ssm-parameter', id: `/gwlb/${scope.deployment}/dummy`}] : []
  },
  async remove(scope, owned) {
    for (const r of owned) await scope.aws.ssm.send(new DeleteParameterCommand({Name: r.id}))
  },
}

describe('the steps are the deployment: init, status and destroy walk the one list', () => {
  it('status describes each resource once, however many steps need it', async () => {
    gwlbJson(['init', ...initFlags(await makeNetwork(clients()))])
    const aws = clients()
    const calls = countCalls(aws)
    expect((await deploymentStatus(scope(aws))).verdict).toBe('healthy')
    for (const command of ['DescribeVpcEndpointsCommand', 'DescribeNatGatewaysCommand', 'DescribeAutoScalingGroupsCommand', 'DescribeLoadBalancersCommand',
      'DescribeVpcEndpointServiceConfigurationsCommand', 'DescribeTargetHealthCommand', 'GetParameterCommand'])
      expect([command, calls.get(command)]).toEqual([command, 1])
  })

  it('status of a deployment with nothing but its settings says what is missing, and reports on nothing that is not there', async () => {
    const net = await makeNetwork(clients())
    const spec = completeFromFlags({name: 'egress', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natGateways: false, package: fakePackage()})
    await clients().ssm.send(new PutParameterCommand({Name: '/gwlb/egress/settings', Type: 'String', Value: JSON.stringify(spec)}))
    const status = await deploymentStatus(scope(clients()))
    expect(status.verdict).toBe('incomplete')
    expect(status.missing).toEqual(expect.arrayContaining(['Gateway Load Balancer', 'GENEVE target group', 'Auto Scaling group', 'GWLB endpoints']))
    expect(status.problems).toEqual([])
  })

  it('status and its rendering name no step: they loop over the list', () => {
    for (const file of ['src/aws/status.ts', 'src/render.ts']) {
      const text = readFileSync(file, 'utf8')
      expect(STEPS.filter((s) => text.includes(`'${s.id}'`)).map((s) => `${file}: ${s.id}`)).toEqual([])
    }
  })

  it('a new step is one object and one line in the list: plan, apply, status and destroy all see it', async () => {
    const net = await makeNetwork(clients())
    STEPS.splice(1, 0, dummy)
    try {
      const spec = completeFromFlags({name: 'egress', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natGateways: false, package: fakePackage()})
      const plan = await planDeployment(await prepare(clients(), spec, {pollMs: 10, timeoutMs: 5000}))
      expect(plan.entries.find((e) => e.id === 'dummy')).toMatchObject({title: 'Dummy parameter', missing: ['the dummy parameter']})

      const result = await applyDeployment(await prepare(clients(), spec, {pollMs: 10, timeoutMs: 5000}), 'silent')
      expect(result.steps.find((s) => s.id === 'dummy')?.outcome).toBe('created')

      const status = await deploymentStatus(scope(clients()))
      expect(status.verdict).toBe('healthy')
      expect(status.steps.find((s) => s.id === 'dummy')).toMatchObject({expected: 1, resources: [{id: '/gwlb/egress/dummy'}], summary: 'Dummy parameter: /gwlb/egress/dummy'})

      const removed = await destroyDeployment(scope(clients()), 'silent')
      expect(removed.removed.map((s) => s.id)).toContain('dummy')
      expect(await dummy.owned(scope(clients()))).toEqual([])
    } finally {
      STEPS.splice(STEPS.indexOf(dummy), 1)
    }
  })
})
