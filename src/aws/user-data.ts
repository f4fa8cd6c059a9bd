import type {DeploymentSpec} from './spec.js'

/** Node.js the appliances run (an LTS line the tool supports: 20, 22 or 24). */
export const APPLIANCE_NODE_VERSION = '22.11.0'

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/**
 * The appliance's first-boot script: Node.js, the build tools for gwlb's data-plane module, nftables, gwlb
 * itself (spec.package, any npm install target), then the systemd unit that runs the data plane.
 */
export function renderUserData(spec: DeploymentSpec): string {
  return `#!/bin/bash
# gwlb appliance bootstrap for deployment ${spec.name}
set -euo pipefail
exec > >(tee -a /var/log/gwlb-bootstrap.log) 2>&1
export DEBIAN_FRONTEND=noninteractive

# First boot races unattended-upgrades for the dpkg lock: wait for it rather than fail.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -q
apt_get install -y -q --no-install-recommends ca-certificates curl xz-utils nftables iproute2 make g++ python3

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "gwlb: unsupported CPU $(uname -m)" >&2; exit 1 ;;
esac
curl -fsSL "https://nodejs.org/dist/v${APPLIANCE_NODE_VERSION}/node-v${APPLIANCE_NODE_VERSION}-linux-\${arch}.tar.xz" \\
  | tar -xJ -C /usr/local --strip-components=1

npm install -g --unsafe-perm ${shellQuote(spec.package)}
gwlb appliance install --enable --now --mode ${spec.mode} --health-port ${spec.healthPort}
`
}
