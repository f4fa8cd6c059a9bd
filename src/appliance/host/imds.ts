const IMDS_TIMEOUT_MS = 1000

/** Reads instance metadata through an IMDSv2 session (a token first; IMDSv1 is off on gwlb's instances). */
export async function instanceMetadata(): Promise<(path: string) => Promise<string>> {
  const base = (process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? 'http://169.254.169.254').replace(/\/$/, '')
  const signal = () => AbortSignal.timeout(IMDS_TIMEOUT_MS)
  let token: string
  try {
    const response = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: {'X-aws-ec2-metadata-token-ttl-seconds': '300'},
      signal: signal(),
    })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    token = await response.text()
  } catch (error) {
    throw new Error(`no EC2 instance metadata at ${base} (${(error as Error).message}): not on EC2?`)
  }
  return async (path: string) => {
    const response = await fetch(`${base}/latest/meta-data/${path}`, {headers: {'X-aws-ec2-metadata-token': token}, signal: signal()})
    if (!response.ok) throw new Error(`instance metadata ${path}: HTTP ${response.status}`)
    return (await response.text()).trim()
  }
}

/** The instance's id and region. */
export async function instanceIdentity(): Promise<{instanceId: string; region: string}> {
  const get = await instanceMetadata()
  return {instanceId: await get('instance-id'), region: await get('placement/region')}
}

/** The IPv4 block of the subnet of the instance's primary interface. */
export async function instanceSubnet(): Promise<string> {
  const get = await instanceMetadata()
  return get(`network/interfaces/macs/${await get('mac')}/subnet-ipv4-cidr-block`)
}
