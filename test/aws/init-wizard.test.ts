import {describe, expect, it} from 'vitest'
import {applyDeployment, planDeployment, prepare} from '../../src/aws/deployment.js'
import {commandLine} from '../../src/aws/settings-table.js'
import {askForSpec} from '../../src/wizard/init-wizard.js'
import {fakePackage} from '../helpers/fake-package.js'
import {gwlbJson} from '../helpers/cli.js'
import {inventory} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {makeNetwork} from '../helpers/network-fixture.js'
import {PromptDriver} from '../helpers/prompt-driver.js'

const {clients} = useMoto()

describe('the gwlb init wizard', () => {
  it('asks with live choices, builds a deployment, and prints the command line that repeats it', async () => {
    const aws = clients()
    const net = await makeNetwork(aws)
    const driver = new PromptDriver()
    const answers = (async () => {
      await driver.type('Deployment name', 'wiz')
      await driver.select('VPC', net.vpcId)
      await driver.check('Subnets for the GWLB and the appliances', net.applianceSubnets)
      await driver.check('Subnets for the GWLB endpoints', net.endpointSubnets)
      await driver.select('Appliance mode', 'one-arm')
      await driver.yes('NAT gateways with Elastic IPs', true)
      await driver.check('Public subnets for the NAT gateways', net.publicSubnets)
      await driver.check('Route tables to send through the GWLB endpoints', net.workloadRouteTables)
      await driver.type(`Destination to send through the endpoint, in ${net.workloadRouteTables[0]}`, '')
      await driver.type(`Destination to send through the endpoint, in ${net.workloadRouteTables[1]}`, '10.50.0.0/16')
      await driver.type('Appliance instance type', '')
      await driver.type('Appliances to run', '3')
      await driver.type('Appliance health-check port', '8080')
    })()
    const spec = await askForSpec(aws, {package: fakePackage()}, driver.context)
    await answers
    expect(spec).toMatchObject({
      name: 'wiz', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natSubnets: net.publicSubnets,
      mode: 'one-arm', natGateways: true, instanceType: 'c6i.large', desiredCapacity: 3, minSize: 2, maxSize: 4, healthPort: 8080,
      routes: [{routeTableId: net.workloadRouteTables[0], cidr: '0.0.0.0/0'}, {routeTableId: net.workloadRouteTables[1], cidr: '10.50.0.0/16'}],
    })

    const ctx = await prepare(aws, spec, {pollMs: 10, timeoutMs: 5000})
    await planDeployment(ctx)
    await applyDeployment(ctx, 'silent')
    expect((await inventory(aws, 'wiz'))['vpc-endpoint']).toBe(2)

    // The printed command line makes the same deployment: run it, and it finds everything.
    const line = commandLine(spec, 'us-east-1')
    expect(line).toContain('--mode one-arm')
    const args = line.replace(/\\\n\s*/g, '').split(/\s+/).slice(1)
    const again = gwlbJson<{created: unknown[]}>([...args, '--poll-interval', '20'])
    expect(again.created).toEqual([])
  })

  it('refuses two subnets in one AZ, and asks before going on with a single AZ', async () => {
    const aws = clients()
    const net = await makeNetwork(aws, '10.1.0.0/16')
    const driver = new PromptDriver()
    const answers = (async () => {
      await driver.check('Subnets for the GWLB and the appliances', [net.publicSubnets[0]!, net.applianceSubnets[0]!])
      await driver.question('two subnets in us-east-1a: choose one per Availability Zone')
      // Untick the public subnet: one AZ left, which the wizard warns about.
      driver.input.write(' ')
      driver.input.write('\r')
      await driver.yes('Only one Availability Zone', false)
    })()
    await expect(askForSpec(aws, {name: 'single', vpcId: net.vpcId}, driver.context)).rejects.toThrow('stopped at the AZ check')
    await answers
  })
})
