import {run} from '../appliance/host/system.js'
import {ADDRESSES, applianceNode, namespaceOf, ownsNamespace, type LabSettings} from './plan.js'

/** The endpoint's TUN interface in the GWLB node, and the routing table that sends traffic into it. */
export const ENDPOINT_TUN = 'gwlbe'
const ENDPOINT_TABLE = '100'
/** The workload's link MTU (an instance's), and the GWLB side's (GWLB carries 8500-byte packets). */
const CLIENT_MTU = 1500
const GWLB_MTU = 9001

const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args])
const sysctl = (ns: string, key: string, value: number) => run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`])

/** A veth pair made inside the two namespaces (nothing is ever in the host's), with addresses, up. */
async function veth(a: {ns: string; name: string; address?: string; bridge?: string}, b: typeof a, mtu: number): Promise<void> {
  await ip(a.ns, 'link', 'add', a.name, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns, 'mtu', String(mtu))
  for (const end of [a, b]) {
    if (end.address) await ip(end.ns, 'address', 'add', end.address, 'dev', end.name)
    if (end.bridge) await ip(end.ns, 'link', 'set', end.name, 'master', end.bridge)
    await ip(end.ns, 'link', 'set', end.name, 'up')
  }
}

async function bridge(ns: string, name: string, address: string): Promise<void> {
  await ip(ns, 'link', 'add', name, 'mtu', String(GWLB_MTU), 'type', 'bridge')
  await ip(ns, 'address', 'add', address, 'dev', name)
  await ip(ns, 'link', 'set', name, 'up')
}

/**
 * The lab's namespaces and links: client ⇄ GWLB node (the endpoint's subnet); the GWLB node and the appliances
 * on one bridge (the appliance subnet); the GWLB node's and the appliances' egress on another bridge, in the
 * internet host, which routes the workload's subnet back through the GWLB node (one-arm returns).
 */
export async function buildNetwork(s: LabSettings): Promise<void> {
  const ns = (node: string) => namespaceOf(s.name, node)
  const [client, gwlb, internet] = [ns('client'), ns('gwlb'), ns('internet')]
  for (const node of [client, gwlb, internet]) await addNamespace(node)
  await veth({ns: client, name: 'eth0', address: `${ADDRESSES.client}/24`}, {ns: gwlb, name: 'client', address: `${ADDRESSES.endpoint}/24`}, CLIENT_MTU)
  await ip(client, 'route', 'add', 'default', 'via', ADDRESSES.endpoint)
  await bridge(gwlb, 'appliances', `${ADDRESSES.node}/24`)
  await bridge(internet, 'br0', `${ADDRESSES.internet}/24`)
  await veth({ns: gwlb, name: 'internet', address: `${ADDRESSES.nodeEgress}/24`}, {ns: internet, name: 'gwlb', bridge: 'br0'}, GWLB_MTU)
  await ip(internet, 'route', 'add', '10.0.1.0/24', 'via', ADDRESSES.nodeEgress)
  // The node forwards what the endpoint decapsulates; packets come out of its TUN from anywhere.
  await sysctl(gwlb, 'net.ipv4.ip_forward', 1)
  for (const key of ['all', 'default']) await sysctl(gwlb, `net.ipv4.conf.${key}.rp_filter`, 0)
  for (let i = 1; i <= s.appliances; i++) {
    const appliance = ns(applianceNode(i))
    await addNamespace(appliance)
    await veth({ns: appliance, name: 'eth0', address: `${ADDRESSES.applianceAddress(i)}/24`}, {ns: gwlb, name: `app-${i}`, bridge: 'appliances'}, GWLB_MTU)
    await veth({ns: appliance, name: 'eth1', address: `${ADDRESSES.applianceEgress(i)}/24`}, {ns: internet, name: `app-${i}`, bridge: 'br0'}, GWLB_MTU)
    await ip(appliance, 'route', 'add', 'default', 'via', ADDRESSES.internet)
  }
}

/**
 * Once the stand-in has made its TUN interface: what the workload sends, and what comes back from the internet
 * to the workload, goes into the endpoint (as the VPC's and the ingress route tables send it to a GWLB endpoint).
 */
export async function routeThroughEndpoint(s: LabSettings): Promise<void> {
  const gwlb = namespaceOf(s.name, 'gwlb')
  await ip(gwlb, 'route', 'add', 'default', 'dev', ENDPOINT_TUN, 'table', ENDPOINT_TABLE)
  await ip(gwlb, 'rule', 'add', 'iif', 'client', 'lookup', ENDPOINT_TABLE, 'pref', '100')
  await ip(gwlb, 'rule', 'add', 'iif', 'internet', 'to', '10.0.1.0/24', 'lookup', ENDPOINT_TABLE, 'pref', '101')
}

async function addNamespace(ns: string): Promise<void> {
  await run('ip', ['netns', 'add', ns])
  await ip(ns, 'link', 'set', 'lo', 'up')
}

/** This lab's namespaces that exist, made by this run or left by one that died. */
export async function labNamespaces(lab: string): Promise<string[]> {
  const list = await run('ip', ['netns', 'list'])
  return list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((ns) => ownsNamespace(lab, ns))
}

/** PIDs of the processes in a namespace (`ip netns pids`). */
export async function namespacePids(ns: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '')
  return out.split('\n').filter(Boolean).map(Number)
}

export const deleteNamespace = (ns: string) => run('ip', ['netns', 'del', ns])
