import {readFileSync} from 'node:fs'
import type {StagedKind} from './staged-file.js'
import {pointerKey, SYNC_SECONDS} from './staged-versions.js'
import {ENGINE_LOG_DIR, engineLogrotate, suricataInclude} from '../ids-rules.js'
import {MONITOR} from '../inspect-hook.js'
import {applianceArgs, carriedSettings} from './settings-table.js'
import {names} from './step.js'
import {alertsGroup} from './steps/log-group.js'
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

/** The inspection engine's files: gwlb's part of Suricata's configuration, its control socket, the policy's domain rules. */
export const SURICATA_INCLUDE = '/etc/gwlb/suricata.yaml'
const SURICATA_SOCKET = '/run/suricata/gwlb.socket'
const POLICY_ENGINE_RULES = '/etc/gwlb/policy.rules'
const ET_OPEN_RULES = '/var/lib/suricata/rules/suricata.rules'
const IDS_RULES = '/etc/gwlb/ids.rules'
const ENGINE_LOGROTATE = '/etc/gwlb/logrotate.conf'

/** Where the bootstrap leaves its log; `gwlb status` points here when appliances stay unhealthy. */
export const BOOTSTRAP_LOG = '/var/log/gwlb-bootstrap.log'

/** The line that names the settings the script carries, for init to tell what a new version would change. */
const SETTINGS_LINE = '# gwlb settings: '

/** The settings a script carries (none named: one written before they were, which named only mode and port). */
export function settingsIn(userData: string): Record<string, unknown> {
  const line = userData.split('\n').find((l) => l.startsWith(SETTINGS_LINE))
  if (line) return JSON.parse(line.slice(SETTINGS_LINE.length)) as Record<string, unknown>
  const install = /gwlb appliance install .*--mode (\S+) --health-port (\d+)/.exec(userData)
  return install ? {mode: install[1], healthPort: Number(install[2])} : {}
}

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
  const s3 = `--bucket ${shellQuote(source.bucket)} --region ${source.region} --dns-suffix ${source.dnsSuffix}${endpointFlag(source)}`
  const policySync = `gwlb appliance policy-sync ${pointerFlags('policy', source)} --file ${POLICY_FILE}`
  const report = `gwlb appliance report --bucket ${shellQuote(source.bucket)} --region ${source.region}${endpointFlag(source)} --scaling-group ${names(spec, source.region).autoScalingGroup}${spec.ids === 'none' ? '' : ` --engine-socket ${SURICATA_SOCKET}`}`
  return `#!/bin/bash
# gwlb appliance bootstrap: deployment ${spec.name}, gwlb ${source.gwlb.version} (sha256 ${source.gwlb.sha256}), Node.js ${source.node.version}
${SETTINGS_LINE}${JSON.stringify(carriedSettings(spec))}
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
# is, in place before the data plane starts; then fetched again every ${SYNC_SECONDS} s and put in force live.
install -d -m 0755 /etc/gwlb
${policySync} --no-reload
${timerUnits('policy', 'the deployment\'s egress policy, fetched and put in force', 'gwlb-appliance.service', policySync)}
${timerUnits('report', 'how this appliance is, for gwlb status', 'gwlb-appliance.service', report)}

${spec.ids === 'none' ? '' : inspection(spec, source)}
gwlb appliance install --enable --now ${[...applianceArgs(spec), ...engineArgs(spec)].join(' ')}${appliance.alsoHealthPorts.map((p) => ` --also-health-port ${p}`).join('')} --allowed-sources ${appliance.allowedSources.join(',')} --policy ${POLICY_FILE}
${lifecycleUnit(spec, source)}
systemctl enable --now gwlb-policy.timer gwlb-report.timer gwlb-lifecycle.service${spec.ids === 'none' ? '' : `\n[ -z "$engine" ] || systemctl enable --now ${engineUnits(spec).join(' ')}`}
echo "gwlb bootstrap: done, $(gwlb --version) runs as gwlb-appliance.service, health on TCP ${spec.healthPort}"
`
}

/**
 * The appliance flags of an engine besides those of the settings table: one queue per CPU (ips), and where the
 * egress policy's domain rules go (an inline engine that fails closed is the only one trusted with them).
 */
const engineArgs = (spec: DeploymentSpec): string[] => [
  ...(spec.ids !== 'none' && spec.idsMode === 'ips' ? ['--inspect-queues $queues'] : []),
  ...(spec.ids !== 'none' && spec.idsMode === 'ips' && spec.idsFail === 'closed' ? [`--policy-engine-rules ${POLICY_ENGINE_RULES} --inspect-socket ${SURICATA_SOCKET}`] : []),
]

/**
 * The appliance completes its group's lifecycle hooks itself: in service once its data plane is ready; out once
 * AWS has drained it and its last flows are gone, its data plane stopped (the operator's on-destroy hooks run).
 */
const lifecycleUnit = (spec: DeploymentSpec, source: BootSource) => `cat > /etc/systemd/system/gwlb-lifecycle.service <<'GWLB_UNIT'
[Unit]
Description=gwlb: this appliance's lifecycle hooks (in service when ready, out after its drain)
After=gwlb-appliance.service

[Service]
ExecStart=/usr/local/bin/node /usr/local/bin/gwlb appliance lifecycle --group ${names(spec, source.region).autoScalingGroup} --on-terminate '${onTerminate(spec, source)}'${endpointEnvironment(source)}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
GWLB_UNIT`

/** What an appliance does once drained, before it is let go: stop its data plane (the on-destroy hooks run), and with an engine ship its last alerts (a minute at most). */
const onTerminate = (spec: DeploymentSpec, source: BootSource) => spec.ids === 'none'
  ? 'systemctl stop gwlb-appliance.service'
  : `systemctl stop gwlb-appliance.service gwlb-suricata.service gwlb-alerts.service; timeout 60 ${shipAlerts(spec, source)} --drain`

/** The alert shipper's command line, as gwlb-alerts.service runs it. */
const shipAlerts = (spec: DeploymentSpec, source: BootSource) =>
  `/usr/local/bin/node /usr/local/bin/gwlb appliance ship-alerts --log-group ${alertsGroup(spec.name)} --events ${['alert', ...spec.idsEvents].join(',')} --region ${source.region}`

/** The engine's units that run from boot on: ET Open's daily timer only where the fleet fetches it. */
const engineUnits = (spec: DeploymentSpec) =>
  ['gwlb-suricata.service', 'gwlb-alerts.service', 'gwlb-rules.timer', 'gwlb-ids-logs.timer', ...(fetchesEtOpen(spec) ? ['gwlb-suricata-update.timer'] : [])]

/** ET Open comes through suricata-update, from the internet: only a fleet with NAT gateways gets there. */
const fetchesEtOpen = (spec: DeploymentSpec) => spec.idsRuleset === 'et-open' && spec.natGateways

/**
 * Suricata on the appliance's inspection hook: installed (OISF's stable PPA: Ubuntu 22.04's own 6.0 lacks
 * --include), configured by gwlb, run as gwlb-suricata.service (af-packet on the monitor port for ids, NFQUEUE
 * 0..N-1 for ips), ET Open rules from suricata-update at boot and daily where asked and the fleet has egress,
 * its logs turned over by gwlb's own logrotate rule every hour, and the alerts (and the events asked for)
 * shipped by gwlb-alerts.service. An install that fails is said in one line; the appliance then runs
 * as --ids-fail says (open: uninspected; closed: unhealthy).
 */
function inspection(spec: DeploymentSpec, source: BootSource): string {
  const ruleFiles = [...(fetchesEtOpen(spec) ? [ET_OPEN_RULES] : []), IDS_RULES, POLICY_ENGINE_RULES]
  const rulesSync = `gwlb appliance rules-sync ${pointerFlags('ids', source)} --file ${IDS_RULES} --socket ${SURICATA_SOCKET}`
  const capture = spec.idsMode === 'ips' ? '$(seq 0 $((queues - 1)) | sed \'s/^/-q /\' | tr \'\\n\' \' \')' : `--af-packet=${MONITOR}`
  return `# Inspection: Suricata (${spec.idsMode}) on the appliance's hook, alerts to CloudWatch Logs ${alertsGroup(spec.name)}.
# ips: one NFQUEUE queue and engine thread per CPU, up to the appliance's 64.
queues=$(( $(nproc) < 64 ? $(nproc) : 64 ))
engine=
if command -v suricata >/dev/null; then engine=suricata
else
  for try in 1 2 3; do
    if add-apt-repository -y ppa:oisf/suricata-stable && apt-get -o DPkg::Lock::Timeout=600 update -q \\
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q suricata logrotate; then engine=suricata; break; fi
    sleep 10
  done
fi
if [ -z "$engine" ]; then
  echo "gwlb bootstrap: could not install Suricata (no way to a package mirror? without NAT gateways the appliances have no egress); the appliance runs without its engine (--ids-fail ${spec.idsFail}: ${spec.idsFail === 'open' ? 'traffic flows uninspected' : 'it stays unhealthy'})"
else
  # gwlb runs its own unit on its own hook: the package's service would listen where gwlb's hook is not.
  systemctl disable --now suricata.service || true
  install -d -m 0755 /var/lib/suricata/rules /run/suricata
  install -d -m 0750 ${ENGINE_LOG_DIR} /var/lib/gwlb
  touch ${ruleFiles.join(' ')}
  # The operator's rules (gwlb rules push), tested by this Suricata, in place before it starts; then every ${SYNC_SECONDS} s, reloaded live.
  ${rulesSync} --no-reload || echo "gwlb bootstrap: the pushed IDS rules could not be put in place; the engine starts without them, and the next sync tries again"
${timerUnits('rules', 'the deployment\'s IDS rules, fetched and put in force', 'gwlb-suricata.service', rulesSync)}
  cat > ${SURICATA_INCLUDE} <<'GWLB_UNIT'
${suricataInclude({ruleFiles, socket: SURICATA_SOCKET, failOpenQueues: spec.idsMode === 'ips' && spec.idsFail === 'open', events: spec.idsEvents, logDir: ENGINE_LOG_DIR}).trimEnd()}
GWLB_UNIT
  cat > ${ENGINE_LOGROTATE} <<'GWLB_UNIT'
${engineLogrotate(ENGINE_LOG_DIR, '/bin/systemctl kill -s HUP gwlb-suricata.service').trimEnd()}
GWLB_UNIT
${timerUnits('ids-logs', 'the engine\'s logs turned over', 'gwlb-suricata.service', `logrotate --state /var/lib/gwlb/logrotate.state ${ENGINE_LOGROTATE}`, {every: '1h', exec: '/usr/sbin/'})}
  ${etOpen(spec)}
  cat > /etc/systemd/system/gwlb-suricata.service <<GWLB_UNIT
[Unit]
Description=gwlb: Suricata on the appliance's inspection hook (${spec.idsMode})
After=gwlb-appliance.service

[Service]
ExecStartPre=/usr/bin/install -d -m 0755 /run/suricata
ExecStart=/usr/bin/suricata -c /etc/suricata/suricata.yaml --include ${SURICATA_INCLUDE} -k none --pidfile /run/suricata/gwlb.pid ${capture}
ExecReload=/bin/kill -USR2 \\$MAINPID
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
GWLB_UNIT
  cat > /etc/systemd/system/gwlb-alerts.service <<'GWLB_UNIT'
[Unit]
Description=gwlb: Suricata's alerts to CloudWatch Logs ${alertsGroup(spec.name)}
After=gwlb-suricata.service

[Service]
ExecStart=${shipAlerts(spec, source)}${endpointEnvironment(source)}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
GWLB_UNIT
fi
`
}

/** ET Open at boot, then daily, reloaded live; or why the engine runs without it. */
function etOpen(spec: DeploymentSpec): string {
  if (spec.idsRuleset === 'none') return 'echo "gwlb bootstrap: --ids-ruleset none: the engine runs your rules and the policy\'s only"'
  if (!spec.natGateways) return 'echo "gwlb bootstrap: no NAT gateways, no egress: no ET Open rules (only yours and the policy\'s)"'
  return `suricata-update --no-test --no-reload -q || echo "gwlb bootstrap: suricata-update could not fetch ET Open; the engine starts with the rules it has, and tries again daily"
  cat > /etc/systemd/system/gwlb-suricata-update.service <<'GWLB_UNIT'
[Unit]
Description=gwlb: ET Open rules for Suricata, reloaded live

[Service]
Type=oneshot
ExecStart=/usr/bin/suricata-update --no-test --no-reload -q
ExecStartPost=/bin/systemctl reload gwlb-suricata.service
GWLB_UNIT
  cat > /etc/systemd/system/gwlb-suricata-update.timer <<'GWLB_UNIT'
[Unit]
Description=gwlb: ET Open rules, daily

[Timer]
OnCalendar=daily
RandomizedDelaySec=1h

[Install]
WantedBy=timers.target
GWLB_UNIT`
}

/** A unit's line that points the SDK at AWS's stand-in where init was pointed at one (an emulator), or nothing. */
const endpointEnvironment = (source: BootSource) => (source.endpoint ? `\nEnvironment=AWS_ENDPOINT_URL=${source.endpoint}` : '')

/** The bucket's endpoint for the appliances' commands where it is not AWS's (an emulator), or nothing. */
const endpointFlag = (source: BootSource) => (source.endpoint ? ` --endpoint ${shellQuote(source.endpoint)}` : '')

/** Where an appliance's sync command finds a pointer of the deployment's bucket. */
const pointerFlags = (kind: StagedKind, source: BootSource) =>
  `--source s3://${source.bucket}/${pointerKey(kind)} --region ${source.region}${endpointFlag(source)}`

/** A gwlb command as a systemd service, and its timer: every SYNC_SECONDS (or `every`), once `after` runs. */
const timerUnits = (name: string, what: string, after: string, command: string, o: {every?: string; exec?: string} = {}) => `cat > /etc/systemd/system/gwlb-${name}.service <<'GWLB_UNIT'
[Unit]
Description=gwlb: ${what}
After=${after}

[Service]
Type=oneshot
ExecStart=${o.exec ?? '/usr/local/bin/node /usr/local/bin/'}${command}
GWLB_UNIT
cat > /etc/systemd/system/gwlb-${name}.timer <<'GWLB_UNIT'
[Unit]
Description=gwlb: ${what}, every ${o.every ?? `${SYNC_SECONDS}s`}

[Timer]
OnActiveSec=${o.every ?? `${SYNC_SECONDS}s`}
OnUnitActiveSec=${o.every ?? `${SYNC_SECONDS}s`}

[Install]
WantedBy=timers.target
GWLB_UNIT`
