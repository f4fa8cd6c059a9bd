import {readFileSync} from 'node:fs'
import {POLICY_POINTER, POLICY_SYNC_SECONDS} from './policy-staging.js'
import {applianceArgs} from './settings-table.js'
import type {DeploymentSpec} from './spec.js'
import type {Artifacts} from './steps/software.js'
import type {Architecture} from './staging/runtime.js'

/** What the appliances' first boot needs to know besides the spec: where the staged software is. */
export interface BootSource extends Artifacts {
  region: string
  architecture: Architecture
  /** amazonaws.com, or the partition's own (amazonaws.com.cn). */
  dnsSuffix: string
  /** An S3 endpoint other than AWS's (an emulator), as the tool itself was pointed at one. */
  endpoint?: string
}

/** What the appliances are told besides the spec: the GWLB's subnets, and a health port in flight. */
export interface ApplianceFlags {
  /** The only sources of GENEVE and health checks (the appliance subnets' blocks). */
  allowedSources: string[]
  /** The target group's present health port, while the fleet moves to another. */
  alsoHealthPorts: number[]
}

/** The appliance's --policy file, kept in sync with what gwlb policy push staged. */
const POLICY_FILE = '/etc/gwlb/policy.yaml'

/** Where the bootstrap leaves its log; `gwlb status` points here when appliances stay unhealthy. */
export const BOOTSTRAP_LOG = '/var/log/gwlb-bootstrap.log'

// Same depth from src/aws and dist/aws.
const fetcher = () => readFileSync(new URL('../../assets/s3-fetch.py', import.meta.url), 'utf8')

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`
const UNAME: Record<Architecture, string> = {amd64: 'x86_64', arm64: 'aarch64'}

/**
 * The appliance's first-boot script. It fetches Node.js and the gwlb package from the deployment's bucket
 * with the instance's role (checking each SHA-256 before unpacking), unpacks them under /opt/gwlb (the
 * package bundles its dependencies and its prebuilt data-plane module: no compiler, no registry), and installs
 * the systemd unit that runs the data plane. Any failure ends it with one line on the console and in the log.
 */
export function renderUserData(spec: DeploymentSpec, source: BootSource, appliance: ApplianceFlags): string {
  const s3 = [`--bucket ${shellQuote(source.bucket)}`, `--region ${source.region}`, `--dns-suffix ${source.dnsSuffix}`,
    ...(source.endpoint ? [`--endpoint ${shellQuote(source.endpoint)}`] : [])].join(' ')
  const endpoint = source.endpoint ? ` --endpoint ${shellQuote(source.endpoint)}` : ''
  const policySync = `gwlb appliance policy-sync --source s3://${source.bucket}/${POLICY_POINTER} --region ${source.region}${endpoint} --file ${POLICY_FILE}`
  return `#!/bin/bash
# gwlb appliance bootstrap: deployment ${spec.name}, gwlb ${source.gwlb.version} (sha256 ${source.gwlb.sha256}), Node.js ${source.node.version}
# -E: the ERR trap fires inside functions too (fetch, unpack).
set -Eeuo pipefail
exec > >(tee -a ${BOOTSTRAP_LOG}) 2>&1
trap 'echo "gwlb bootstrap: FAILED at line $LINENO ($BASH_COMMAND); see ${BOOTSTRAP_LOG}"' ERR
echo "gwlb bootstrap: start $(date -u +%FT%TZ)"

if [ "$(uname -m)" != ${UNAME[source.architecture]} ]; then
  echo "gwlb bootstrap: this launch template ships software for ${UNAME[source.architecture]}, the instance is $(uname -m)"
  exit 1
fi

install -d -m 0755 /opt/gwlb /opt/gwlb/lib
cat > /opt/gwlb/lib/s3-fetch.py <<'GWLB_FETCH'
${fetcher().trimEnd()}
GWLB_FETCH
fetch() { python3 /opt/gwlb/lib/s3-fetch.py ${s3} "$@"; }

# Unpacks a tarball into a fresh folder, then swaps it in whole: a re-run never leaves a mix of two versions.
unpack() {
  rm -rf "$2.new" && install -d "$2.new"
  tar -xzf "$1" -C "$2.new" --strip-components=1 --no-same-owner
  rm -rf "$2" && mv "$2.new" "$2" && rm -f "$1"
}

fetch ${shellQuote(source.node.key)} /opt/gwlb/node.tgz ${source.node.sha256}
unpack /opt/gwlb/node.tgz /opt/gwlb/node
ln -sf /opt/gwlb/node/bin/node /usr/local/bin/node

fetch ${shellQuote(source.gwlb.key)} /opt/gwlb/gwlb.tgz ${source.gwlb.sha256}
unpack /opt/gwlb/gwlb.tgz /opt/gwlb/app
ln -sf /opt/gwlb/app/bin/run.js /usr/local/bin/gwlb

# nftables is on current Ubuntu images; install it only where it is not.
if ! command -v nft >/dev/null; then
  for try in 1 2 3; do
    apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends nftables && break
    [ "$try" = 3 ] && { echo "gwlb bootstrap: could not install nftables (no way to a package mirror?)"; exit 1; }
    sleep 10
  done
fi

# The egress policy: the one gwlb policy push staged (until one is, everything passes), checked as the software
# is, in place before the data plane starts; then fetched again every ${POLICY_SYNC_SECONDS} s and put in force live.
install -d -m 0755 /etc/gwlb
${policySync} --no-reload
cat > /etc/systemd/system/gwlb-policy.service <<'GWLB_UNIT'
[Unit]
Description=gwlb: the deployment's egress policy, fetched and put in force
After=gwlb-appliance.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/node /usr/local/bin/${policySync}
GWLB_UNIT
cat > /etc/systemd/system/gwlb-policy.timer <<'GWLB_UNIT'
[Unit]
Description=gwlb: the deployment's egress policy, every ${POLICY_SYNC_SECONDS} s

[Timer]
OnActiveSec=${POLICY_SYNC_SECONDS}s
OnUnitActiveSec=${POLICY_SYNC_SECONDS}s

[Install]
WantedBy=timers.target
GWLB_UNIT

gwlb appliance install --enable --now ${applianceArgs(spec).join(' ')}${appliance.alsoHealthPorts.map((p) => ` --also-health-port ${p}`).join('')} --allowed-sources ${appliance.allowedSources.join(',')} --policy ${POLICY_FILE}
systemctl enable --now gwlb-policy.timer
echo "gwlb bootstrap: done, $(gwlb --version) runs as gwlb-appliance.service, health on TCP ${spec.healthPort}"
`
}
