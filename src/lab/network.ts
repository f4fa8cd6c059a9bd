import {run} from '../appliance/host/system.js'
import {ADDRESSES, ADDRESSES6, applianceNode, namespaceOf, ownsNamespace, type LabSettings} from './plan.js'

/** The endpoint's TUN interface in the GWLB node, and the routing table that sends traffic into it. */
export const ENDPOINT_TUN = 'gwlbe'
const ENDPOINT_TABLE = '100'
/** The workload's link MTU (an instance's), and the GWLB side's (GWLB carries 8500-byte packets). */
const CLIENT_MTU = 1500
const GWLB_MTU = 9001

const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args])
const sysctl = (ns: string, key: string, value: number) => run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`])

/** An address (CIDR) on a device; IPv6 ones without duplicate address detection, which would hold them back for seconds. */
const address = (ns: string, dev: string, cidr: string) => ip(ns, 'address', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : []))

/** A veth pair made inside the two namespaces (nothing is ever in the host's), with addresses, up. */
async function veth(a: {ns: string; name: string; addresses?: string[]; bridge?: string}, b: typeof a, mtu: number): Promise<void> {
  await ip(a.ns, 'link', 'add', a.name, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns, 'mtu', String(mtu))
  for (const end of [a, b]) {
    for (const cidr of end.addresses ?? []) await address(end.ns, end.name, cidr)
    if (end.bridge) await ip(end.ns, 'link', 'set', end.name, 'master', end.bridge)
    await ip(end.ns, 'link', 'set', end.name, 'up')
  }
}

async function bridge(ns: string, name: string, addresses: string[]): Promise<void> {
  await ip(ns, 'link', 'add', name, 'mtu', String(GWLB_MTU), 'type', 'bridge')
  for (const cidr of addresses) await address(ns, name, cidr)
  await ip(ns, 'link', 'set', name, 'up')
}

/**
 * The lab's namespaces and links: client ⇄ GWLB node (the endpoint's subnet); the GWLB node and the appliances
 * on one bridge (the appliance subnet); the GWLB node's and the appliances' egress on another bridge, in the
 * internet host, which routes the workload's subnet back through the GWLB node (one-arm returns). The
 * workload's side (client, internet, egress) is dual-stack.
 */
export async function buildNetwork(s: LabSettings): Promise<void> {
  const ns = (node: string) => namespaceOf(s.name, node)
  const [client, gwlb, internet] = [ns('client'), ns('gwlb'), ns('internet')]
  for (const node of [client, gwlb, internet]) await addNamespace(node)
  await veth({ns: client, name: 'eth0', addresses: [`${ADDRESSES.client}/24`, `${ADDRESSES6.client}/64`]},
    {ns: gwlb, name: 'client', addresses: [`${ADDRESSES.endpoint}/24`, `${ADDRESSES6.endpoint}/64`]}, CLIENT_MTU)
  await defaultRoutes(client, ADDRESSES.endpoint, ADDRESSES6.endpoint)
  await bridge(gwlb, 'appliances', [`${ADDRESSES.node}/24`])
  await bridge(internet, 'br0', [`${ADDRESSES.internet}/24`, `${ADDRESSES6.internet}/64`])
  await veth({ns: gwlb, name: 'internet', addresses: [`${ADDRESSES.nodeEgress}/24`, `${ADDRESSES6.nodeEgress}/64`]}, {ns: internet, name: 'gwlb', bridge: 'br0'}, GWLB_MTU)
  await ip(internet, 'route', 'add', ADDRESSES.clientSubnet, 'via', ADDRESSES.nodeEgress)
  await ip(internet, 'route', 'add', ADDRESSES6.clientSubnet, 'via', ADDRESSES6.nodeEgress)
  // The node forwards what the endpoint decapsulates; packets come out of its TUN from anywhere.
  await sysctl(gwlb, 'net.ipv4.ip_forward', 1)
  await sysctl(gwlb, 'net.ipv6.conf.all.forwarding', 1)
  for (const key of ['all', 'default']) await sysctl(gwlb, `net.ipv4.conf.${key}.rp_filter`, 0)
  for (let i = 1; i <= s.appliances; i++) {
    const appliance = ns(applianceNode(i))
    await addNamespace(appliance)
    await veth({ns: appliance, name: 'eth0', addresses: [`${ADDRESSES.applianceAddress(i)}/24`]}, {ns: gwlb, name: `app-${i}`, bridge: 'appliances'}, GWLB_MTU)
    await veth({ns: appliance, name: 'eth1', addresses: [`${ADDRESSES.applianceEgress(i)}/24`, `${ADDRESSES6.applianceEgress(i)}/64`]},
      {ns: internet, name: `app-${i}`, bridge: 'br0'}, GWLB_MTU)
    await defaultRoutes(appliance, ADDRESSES.internet, ADDRESSES6.internet)
  }
}

const defaultRoutes = async (ns: string, via4: string, via6: string) => {
  await ip(ns, 'route', 'add', 'default', 'via', via4)
  await ip(ns, '-6', 'route', 'add', 'default', 'via', via6)
}

/**
 * Once the stand-in has made its TUN interface: what the workload sends, and what comes back from the internet
 * to the workload, goes into the endpoint (as the VPC's and the ingress route tables send it to a GWLB endpoint).
 */
export async function routeThroughEndpoint(s: LabSettings): Promise<void> {
  const gwlb = namespaceOf(s.name, 'gwlb')
  for (const [family, subnet] of [['-4', ADDRESSES.clientSubnet], ['-6', ADDRESSES6.clientSubnet]]) {
    await ip(gwlb, family!, 'route', 'add', 'default', 'dev', ENDPOINT_TUN, 'table', ENDPOINT_TABLE)
    await ip(gwlb, family!, 'rule', 'add', 'iif', 'client', 'lookup', ENDPOINT_TABLE, 'pref', '100')
    await ip(gwlb, family!, 'rule', 'add', 'iif', 'internet', 'to', subnet!, 'lookup', ENDPOINT_TABLE, 'pref', '101')
  }
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
