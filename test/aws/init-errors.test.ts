import {CreateSubnetCommand, CreateVpcCommand} from '@aws-sdk/client-ec2'
import {beforeAll, describe, expect, it} from 'vitest'
import {applyDeployment, prepare} from '../../src/aws/deployment.js'
import {explainAwsError} from '../../src/aws/errors.js'
import {completeFromFlags} from '../../src/aws/settings-table.js'
import {fakePackage, makePackage} from '../helpers/fake-package.js'
import {UserError} from '../../src/errors.js'
import {gwlb} from '../helpers/cli.js'
import {inventory, nothing} from '../helpers/inventory.js'
import {useMoto} from '../helpers/moto.js'
import {initFlags, makeNetwork, type Network} from '../helpers/network-fixture.js'

const {clients} = useMoto()

/** Replaces the value of a flag in a flag list. */
function withFlag(flags: string[], name: string, value: string): string[] {
  const out = [...flags]
  out[out.indexOf(name) + 1] = value
  return out
}

describe('gwlb init refuses bad input with one line and creates nothing', () => {
  let net: Network
  let otherVpcSubnet: string
  beforeAll(async () => {
    net = await makeNetwork(clients())
    const {Vpc} = await clients().ec2.send(new CreateVpcCommand({CidrBlock: '10.9.0.0/16'}))
    otherVpcSubnet = (await clients().ec2.send(new CreateSubnetCommand({VpcId: Vpc!.VpcId!, CidrBlock: '10.9.1.0/24', AvailabilityZone: 'us-east-1a'}))).Subnet!.SubnetId!
  })

  const cases: [string, () => string[], RegExp][] = [
    ['an unknown VPC', () => withFlag(initFlags(net), '--vpc-id', 'vpc-0000000000000dead'), /^Error: VPC vpc-0000000000000dead does not exist in us-east-1 — check --vpc-id and --region$/],
    ['an unknown subnet', () => withFlag(initFlags(net), '--appliance-subnets', `${net.applianceSubnets[0]},subnet-00000000000000bad`), /subnet subnet-00000000000000bad \(--appliance-subnets\) does not exist/],
    ['a subnet of another VPC', () => withFlag(initFlags(net), '--endpoint-subnets', `${net.endpointSubnets[0]},${otherVpcSubnet}`), /subnet .* \(--endpoint-subnets\) is in vpc-\w+, not in vpc-/],
    ['two subnets in one AZ', () => withFlag(initFlags(net), '--appliance-subnets', `${net.applianceSubnets[0]},${net.workloadSubnets[0]}`), /--appliance-subnets: subnet-\w+ and subnet-\w+ are both in us-east-1a — give one subnet per Availability Zone/],
    ['an unknown route table', () => withFlag(initFlags(net), '--route', 'rtb-00000000000000bad=0.0.0.0/0'), /^Error: route table rtb-00000000000000bad does not exist in us-east-1 — check the route table ids/],
    ['a route through an appliance subnet\'s own table (its egress would loop)', () => withFlag(initFlags(net), '--route', `${net.applianceRouteTables[0]}=0.0.0.0/0`),
      /^Error: route table rtb-\w+ is the appliance subnet subnet-\w+'s: 0\.0\.0\.0\/0 through the endpoint would send the deployment's own traffic back into the GWLB \(a loop\)/],
    ['a route through the NAT subnets\' table', () => withFlag(initFlags(net), '--route', `${net.publicRouteTable}=0.0.0.0/0`), /is the NAT subnet subnet-\w+'s: .* \(a loop\)/],
    ['a malformed route', () => withFlag(initFlags(net), '--route', 'rtb-1=not-a-cidr'), /--route rtb-1=not-a-cidr: not-a-cidr is not a CIDR block/],
    ['a route whose block has host bits set', () => withFlag(initFlags(net), '--route', 'rtb-1=10.0.0.1/8'), /--route rtb-1=10.0.0.1\/8: 10.0.0.1\/8 has host bits set: the block is 10.0.0.0\/8/],
    ['a route with a leading zero (octal to inet_aton)', () => withFlag(initFlags(net), '--route', 'rtb-1=010.0.0.0/8'), /010.0.0.0\/8 is not a CIDR block: write the address as four decimal numbers/],
    ['a route with a malformed IPv6 block', () => withFlag(initFlags(net), '--route', 'rtb-1=:::/0'), /--route rtb-1=:::\/0: :::\/0 is not a CIDR block/],
    ['a route with half an IPv6 address', () => withFlag(initFlags(net), '--route', 'rtb-1=1:2/64'), /--route rtb-1=1:2\/64: 1:2\/64 is not a CIDR block/],
    ['a principal that is not an ARN', () => [...initFlags(net), '--allowed-principal', 'alice'], /--allowed-principal alice: not an account id or an ARN — give a 12-digit account id or an IAM ARN/],
    ['everybody as a principal', () => [...initFlags(net), '--allowed-principal', '*'], /--allowed-principal \*: everybody is not allowed: name the accounts/],
    ['a principal that is no IAM principal', () => [...initFlags(net), '--allowed-principal', 'arn:aws:s3:::some-bucket'], /not an IAM principal of an account/],
    ['a key pair that does not exist', () => [...initFlags(net), '--key-name', 'no-such-key'], /^Error: key pair no-such-key does not exist in us-east-1 — create or import it there/],
    ['an AMI that does not exist', () => [...initFlags(net), '--ami-id', 'ami-00000000000000bad'], /^Error: AMI ami-00000000000000bad does not exist in us-east-1/],
    ['an unsupported instance type', () => [...initFlags(net), '--instance-type', 'z9.mega'], /instance type z9.mega is not offered in us-east-1 — pick another --instance-type/],
    ['sizes out of order', () => [...initFlags(net), '--min-size', '3', '--desired-capacity', '2'], /min ≤ desired ≤ max/],
    ['stickiness with Transit Gateway appliance mode', () => [...initFlags(net), '--tgw-attachment', 'tgw-attach-0123', '--stickiness', '2-tuple'], /appliance mode and 2-tuple stickiness do not mix/],
    ['missing required values with --yes', () => ['init', '--yes', '--name', 'x'].slice(1), /missing --vpc-id, --appliance-subnets, --endpoint-subnets, --nat-subnets \(or --no-nat-gateways\)/],
    ['a name that cannot name resources', () => withFlag(initFlags(net), '--name', 'Has_Capitals'), /"Has_Capitals" is not a usable deployment name/],
    ['a package that is not gwlb', () => [...initFlags(net), '--package', makePackage({name: 'left-pad'})], /gwlb-fake-package-\w+\/package.tgz is not a gwlb package \(its name is left-pad\) — pass --package a gwlb tarball$/],
    ['a package whose dependencies are not bundled', () => [...initFlags(net), '--package', makePackage({dependencies: {chalk: '^5.0.0'}})], /does not bundle chalk: appliances install nothing from a registry/],
    ['a package without the prebuild for the instance type\'s CPU', () => [...initFlags(net), '--instance-type', 'c7g.large', '--package', makePackage({prebuilds: ['linux-x64']})], /has no prebuilt data-plane module for linux-arm64/],
    ['a package that npm cannot find', () => [...initFlags(net), '--package', './no-such-gwlb.tgz'], /^Error: npm could not fetch \.\/no-such-gwlb\.tgz: .* — check the package spec/],
  ]

  it.each(cases)('%s', async (_what, flags, message) => {
    const r = gwlb(['init', ...flags()])
    expect(r.status).not.toBe(0)
    const stderr = r.stderr.trim()
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toMatch(message)
    expect(nothing(await inventory(clients(), 'egress'))).toBe(true)
  })

  it('bad values of flags are bad usage, exit 2: everybody as a principal, values missing under --yes, an unusable name', () => {
    for (const args of [[...initFlags(net), '--allowed-principal', '*'], ['--yes', '--name', 'x'], withFlag(initFlags(net), '--name', 'Has_Capitals')]) {
      const r = gwlb(['init', ...args])
      expect(r.status, r.stderr).toBe(2)
    }
  })

  it('an unknown flag after a repeatable one is named as unknown, not taken for its value', () => {
    const r = gwlb(['init', ...initFlags(net), '--route', 'rtb-1=0.0.0.0/0', '--scale-by', 'cpu:60'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/--scale-by/)
    expect(r.stderr).not.toMatch(/ROUTE_TABLE_ID=CIDR/)
  })

  it('status and destroy refuse a name that init refuses, as bad usage', () => {
    for (const command of ['status', 'destroy']) {
      const r = gwlb([command, '-n', 'bad name!'])
      expect(r.status).toBe(2)
      expect(r.stderr.trim()).toBe('Error: Parsing --name "bad name!" is not a usable deployment name — use 1-20 lower-case letters, digits and dashes, not starting or ending with a dash, e.g. --name egress-prod')
    }
  })

  it('no terminal and no --yes: says to pass the flags', () => {
    const r = gwlb(['init', '--vpc-id', net.vpcId])
    expect(r.status).not.toBe(0)
    expect(r.stderr.trim()).toBe('Error: gwlb init needs a terminal for its questions — pass --yes with every value as a flag (see gwlb init --help)')
  })

  it('a missing permission names the action that was denied', async () => {
    const aws = clients()
    aws.ec2.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateSecurityGroupCommand')
          throw Object.assign(new Error('You are not authorized to perform this operation.'), {name: 'UnauthorizedOperation', $metadata: {httpStatusCode: 403}})
        return next(args)
      },
      {step: 'deserialize', name: 'denyCreateSecurityGroup'},
    )
    const spec = completeFromFlags({name: 'denied', vpcId: net.vpcId, applianceSubnets: net.applianceSubnets, endpointSubnets: net.endpointSubnets, natGateways: false, package: fakePackage()})
    const error = await applyDeployment(await prepare(aws, spec, {pollMs: 10, timeoutMs: 5000}), 'silent').catch((e: unknown) => e)
    const explained = explainAwsError(error)
    expect(explained).toBeInstanceOf(UserError)
    expect((explained as UserError).line).toMatch(/^Permission denied for ec2:CreateSecurityGroup: You are not authorized .* — grant that action/)
  })

  it('rides out throttling: the SDK retries a throttled call', async () => {
    const aws = clients()
    let throttled = 0
    aws.elb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateTargetGroupCommand' && throttled < 2) {
          throttled++
          throw Object.assign(new Error('Rate exceeded'), {name: 'ThrottlingException', $metadata: {httpStatusCode: 400}})
        }
        return next(args)
      },
      {step: 'deserialize', name: 'throttle'},
    )
    // A network of its own: two deployments without NAT gateways cannot share appliance subnets.
    const own = await makeNetwork(aws)
    const spec = completeFromFlags({name: 'throttled', vpcId: own.vpcId, applianceSubnets: own.applianceSubnets, endpointSubnets: own.endpointSubnets, natGateways: false, package: fakePackage()})
    const result = await applyDeployment(await prepare(aws, spec, {pollMs: 10, timeoutMs: 5000}), 'silent')
    expect(throttled).toBe(2)
    expect(result.steps.find((s) => s.id === 'target-group')?.outcome).toBe('created')
  })
})
