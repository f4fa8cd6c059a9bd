import {createServer, type Server} from 'node:http'
import {TEST_REGION} from './moto.js'

export const IMDS_ROLE = 'gwlb-egress-us-east-1'
export const IMDS_MAC = '0e:12:34:56:78:9a'
export const IMDS_SUBNET = '10.0.10.0/24'

/**
 * An instance metadata service that, like EC2's with IMDSv2 required, answers only with a session token:
 * the instance's id, region and subnet, its role's temporary credentials, and where its group means it to go.
 * `paths` records what was asked; `answers` may be changed.
 */
export function fakeImds(instanceId: string): Server & {paths: string[]; answers: Record<string, string>} {
  const paths: string[] = []
  const answers: Record<string, string> = {
    // Where the Auto Scaling group means the instance to go (a test sets Terminated for a scale-in).
    '/latest/meta-data/autoscaling/target-lifecycle-state': 'InService',
    '/latest/meta-data/instance-id': instanceId,
    '/latest/meta-data/placement/region': TEST_REGION,
    '/latest/meta-data/mac': IMDS_MAC,
    [`/latest/meta-data/network/interfaces/macs/${IMDS_MAC}/subnet-ipv4-cidr-block`]: IMDS_SUBNET,
    '/latest/meta-data/iam/security-credentials/': IMDS_ROLE,
    [`/latest/meta-data/iam/security-credentials/${IMDS_ROLE}`]: JSON.stringify({
      Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: 'ASIAIMDSTEST', SecretAccessKey: 'imds-secret', Token: 'imds-session-token', Expiration: '2099-01-01T00:00:00Z',
    }),
  }
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`)
    if (req.method === 'PUT' && req.url === '/latest/api/token' && req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.end('token-1')
    if (req.headers['x-aws-ec2-metadata-token'] !== 'token-1') return res.writeHead(401).end()
    const answer = answers[req.url ?? '']
    if (answer) res.end(answer)
    else res.writeHead(404).end()
  })
  return Object.assign(server, {paths, answers})
}
