import {afterEach, describe, expect, it} from 'vitest'
import {settingChanges} from '../../src/aws/changes.js'
import {applianceArgs, commandLine, givenByFlags, SETTINGS, settingFlags, withDefaults, type Setting} from '../../src/aws/settings-table.js'
import type {DeploymentSpec} from '../../src/aws/spec.js'

const BASE = {vpcId: 'vpc-1', applianceSubnets: ['subnet-a'], endpointSubnets: ['subnet-b'], natSubnets: ['subnet-c']}

describe('one table of deployment settings', () => {
  /** A setting of the kind a newcomer adds: rolled out to the appliances, with a default. */
  const tunnelMtu = {
    key: 'tunnelMtu', flag: 'tunnel-mtu', type: 'integer', label: 'tunnel MTU', change: 'rolling', default: 8500, min: 1280, max: 8500,
    appliance: 'tunnel-mtu', description: 'MTU of the tunnel interfaces',
  } as unknown as Setting
  afterEach(() => {
    const i = SETTINGS.indexOf(tunnelMtu)
    if (i >= 0) SETTINGS.splice(i, 1)
  })
  type WithMtu = DeploymentSpec & {tunnelMtu: number}

  it('a setting added as one entry is a flag of init, a default of the spec, words of the command line, a line of the change plan and an appliance flag', () => {
    SETTINGS.push(tunnelMtu)
    expect(settingFlags()['tunnel-mtu']).toMatchObject({type: 'option', description: 'MTU of the tunnel interfaces (default 8500)'})
    expect(givenByFlags({'tunnel-mtu': 9000})).toMatchObject({tunnelMtu: 9000})
    const stored = withDefaults(BASE) as WithMtu
    expect(stored.tunnelMtu).toBe(8500)
    expect(commandLine(stored, 'us-east-1')).not.toMatch(/tunnel-mtu/)
    const asked = withDefaults({...BASE, ...givenByFlags({'tunnel-mtu': 1500})}) as WithMtu
    expect(commandLine(asked, 'us-east-1')).toMatch(/--tunnel-mtu 1500$/)
    expect(settingChanges(stored, asked)).toEqual([{key: 'tunnelMtu', kind: 'rolling', words: 'tunnel MTU 8500 → 1500'}])
    expect(applianceArgs(asked)).toContain('--tunnel-mtu 1500')
  })

  it('every field of the spec but the name has exactly one entry, and every flag one name', () => {
    const keys = Object.keys(withDefaults(BASE)).filter((k) => k !== 'name').sort()
    expect(SETTINGS.map((s) => s.key).sort()).toEqual(keys)
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length)
  })

  it('the command line says only what differs from the defaults, in the table\'s order', () => {
    const spec = withDefaults({...BASE, natGateways: false, crossZone: true, routes: [{routeTableId: 'rtb-1', cidr: '0.0.0.0/0'}], allowedPrincipals: ['123456789012'], healthPort: 8080})
    const line = commandLine(spec, 'eu-west-1')
    expect(line.split(' \\\n  ')).toEqual([
      'gwlb init --yes', '--name gwlb', '--region eu-west-1', '--vpc-id vpc-1', '--appliance-subnets subnet-a', '--endpoint-subnets subnet-b',
      '--no-nat-gateways', '--route rtb-1=0.0.0.0/0', '--health-port 8080', '--cross-zone', '--allowed-principal 123456789012',
    ])
  })

  it('a list given as none is empty (what was there is given back); a list not given is not a change', () => {
    expect(givenByFlags({'allowed-principal': ['none'], route: ['none']})).toMatchObject({allowedPrincipals: [], routes: []})
    expect(givenByFlags({}).routes).toBeUndefined()
  })
})
