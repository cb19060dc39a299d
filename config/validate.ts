import { parseBackupSchedule, parseDurationSeconds } from "./duration";
import { cidrContains, isNetworkOrBroadcast, parseCidr, parseIpv4 } from "./net";
import { ConfigError, ConfigIssue, IssueList, MapReader, isPlainObject } from "./reader";
import { parseSnippets } from "./snippets";
import { sshPublicKeyProblem } from "./sshKey";
import {
  ARCHES,
  AVAILABILITIES,
  BackupConfig,
  DEFAULT_BACKUP,
  DEFAULT_BACKUP_REPOSITORY,
  DEFAULT_ZRAM_MIB,
  DEFAULTS,
  DEFAULT_NETWORKS,
  DEFAULT_STACKS,
  DEFAULT_DNS_UPSTREAMS,
  DEFAULT_JIT,
  DEFAULT_NTFY_SERVER,
  DEFAULT_RETENTION,
  DEFAULT_GITOPS_BRANCH,
  DEFAULT_GITOPS_INTERVAL,
  DnsConfig,
  GITOPS_INTERVAL_MAX_SECONDS,
  GITOPS_INTERVAL_MIN_SECONDS,
  GitOpsConfig,
  JitServiceConfig,
  MonitoringConfig,
  HomelabConfig,
  NetworkConfig,
  PlatformConfig,
  NodeConfig,
  REBOOT_STRATEGIES,
  ROLES,
  SshConfig,
  TraefikConfig,
  AcmeConfig,
  UPDATE_GROUPS,
  UpdatesConfig,
} from "./schema";

/** RFC 1123 label: what a hostname (and a Swarm node name) may be. */
const HOSTNAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const DOMAIN = /^(?=.{1,253}$)((?!-)[a-z0-9-]{1,63}(?<!-)\.)*(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const LABEL_KEY = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/i;
const WINDOW_START = /^(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?([01]\d|2[0-3]):[0-5]\d$/;
const MAX_ZRAM_MIB = 65536;

export interface ValidationResult {
  readonly config: HomelabConfig;
  readonly warnings: readonly ConfigIssue[];
}

function readNetwork(issues: IssueList, r: MapReader): NetworkConfig {
  const subnetText = r.requiredString("subnet", "set the LAN of your Pis, e.g. 192.168.99.0/24");
  const subnet = subnetText === undefined ? undefined : parseCidr(subnetText);
  if (subnetText !== undefined && subnet === undefined) {
    issues.error(r.child("subnet"), `"${subnetText}" is not a network in CIDR form. Fix: write the network address and prefix, e.g. 192.168.99.0/24 (host bits zero).`);
  }
  const gateway = r.requiredString("gateway", "set your router's address, e.g. 192.168.99.1") ?? "";
  const gatewayValue = parseIpv4(gateway);
  if (gateway !== "" && gatewayValue === undefined) {
    issues.error(r.child("gateway"), `"${gateway}" is not an IPv4 address. Fix: write a dotted quad, e.g. 192.168.99.1.`);
  } else if (gatewayValue !== undefined && subnet !== undefined && !cidrContains(subnet, gatewayValue)) {
    issues.error(r.child("gateway"), `${gateway} is outside ${subnetText}. Fix: use your router's address on that network.`);
  } else if (gatewayValue !== undefined && subnet !== undefined && isNetworkOrBroadcast(subnet, gatewayValue)) {
    // networkd accepts it, but no router answers there: every node would boot without a default route.
    issues.error(r.child("gateway"), `${gateway} is the network or broadcast address of ${subnetText}, not a router. Fix: use your router's address, e.g. the .1 of that network.`);
  }
  const addressList = (name: string, fix: string) =>
    r.stringList(name, fix).map((item) => {
      if (parseIpv4(item.value) === undefined) issues.error(item.key, `"${item.value}" is not an IPv4 address. Fix: ${fix}`);
      return item.value;
    });
  const dns = addressList("dns", "list resolver addresses, e.g. [192.168.99.1, 9.9.9.9]");
  const ntp = r.stringList("ntp", "list NTP servers, e.g. [192.168.99.1]").map((i) => i.value);
  const interfaceMatch = r.string("interface", DEFAULTS.interfaceMatch, "give a networkd Name= pattern, e.g. en* or enabcm6e4ei0");
  if (/\s/.test(interfaceMatch)) issues.error(r.child("interface"), `"${interfaceMatch}" has spaces. Fix: one pattern such as en*.`);
  r.rejectUnknownKeys();
  return { subnet: subnetText ?? "", gateway, dns: dns.length > 0 ? dns : [gateway], interfaceMatch, ntp };
}

function readSsh(issues: IssueList, r: MapReader): SshConfig {
  const authorizedKeys = r.stringList("authorizedKeys", "list public key lines, e.g. the contents of ~/.ssh/id_ed25519.pub").map((item) => {
    const problem = sshPublicKeyProblem(item.value);
    if (problem) issues.error(item.key, `${problem}.`);
    return item.value;
  });
  const waitMinutes = r.number("waitMinutes", DEFAULTS.waitMinutes, {
    min: 0.1,
    max: 24 * 60,
    fix: "give a positive number of minutes (e.g. 30); first boot of a Pi takes several minutes.",
  });
  r.rejectUnknownKeys();
  return { authorizedKeys, waitMinutes };
}

function readUpdates(issues: IssueList, r: MapReader): UpdatesConfig {
  const rebootStrategy = r.oneOf("rebootStrategy", REBOOT_STRATEGIES, DEFAULTS.rebootStrategy);
  const windowStart = r.string("windowStart", DEFAULTS.windowStart, 'give a time like "03:00"');
  const windowLength = r.string("windowLength", DEFAULTS.windowLength, "give a Go duration like 1h or 90m");
  const group = r.oneOf("group", UPDATE_GROUPS, DEFAULTS.group);
  r.rejectUnknownKeys();
  const start = WINDOW_START.exec(windowStart);
  if (!start) {
    issues.error(r.child("windowStart"), `"${windowStart}" is not a time. Fix: write HH:MM (24 h), e.g. "03:00".`);
  } else if (rebootStrategy === "staggered" && start[1] !== undefined) {
    issues.error(r.child("windowStart"), `"${windowStart}" names a weekday, but the staggered strategy gives each node its own day. Fix: write only the time, e.g. "03:00".`);
  }
  const seconds = parseDurationSeconds(windowLength);
  const maxSeconds = start?.[1] !== undefined ? 7 * 86400 : 86400;
  if (seconds === undefined) {
    issues.error(r.child("windowLength"), `"${windowLength}" is not a duration. Fix: write a Go duration such as 1h, 90m or 1h30m.`);
  } else if (seconds <= 0) {
    issues.error(r.child("windowLength"), `${windowLength} is not positive. Fix: give a positive duration such as 1h.`);
  } else if (seconds >= maxSeconds) {
    issues.error(r.child("windowLength"), `${windowLength} is too long for locksmithd (must be shorter than ${maxSeconds === 86400 ? "a day" : "a week"}). Fix: use e.g. 1h.`);
  }
  return { rebootStrategy, windowStart, windowLength, group };
}

function readZram(issues: IssueList, r: MapReader): number {
  const raw = r.raw("zram");
  if (raw === undefined || raw === null || raw === false) return 0;
  if (raw === true) return DEFAULT_ZRAM_MIB;
  if (typeof raw === "number" && Number.isInteger(raw) && raw > 0 && raw <= MAX_ZRAM_MIB) return raw;
  issues.error(r.child("zram"), `${JSON.stringify(raw)} is not valid. Fix: true (${DEFAULT_ZRAM_MIB} MiB), false, or a size in MiB between 1 and ${MAX_ZRAM_MIB}.`);
  return 0;
}

function readLabels(issues: IssueList, r: MapReader): Record<string, string> {
  const labelsReader = r.map("labels");
  const raw = r.raw("labels");
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(isPlainObject(raw) ? raw : {})) {
    if (!LABEL_KEY.test(key)) {
      issues.error(labelsReader.child(key), `"${key}" is not a valid label key. Fix: letters, digits, ".", "-" and "_" only, e.g. storage or homelab.volume.`);
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      issues.error(labelsReader.child(key), `label values are plain text. Fix: write e.g. ${key}: "ssd".`);
      continue;
    }
    const text = String(value);
    if (/[\s"'`$\\]/.test(text)) issues.error(labelsReader.child(key), `"${text}" has spaces, quotes or shell characters. Fix: use a plain word.`);
    labels[key] = text;
  }
  return labels;
}

function readNode(issues: IssueList, key: string, value: unknown): NodeConfig | undefined {
  const r = MapReader.of(issues, key, value);
  const name = r.requiredString("name", "give the node a hostname, e.g. swarm-manager-1");
  if (name !== undefined && !HOSTNAME.test(name)) {
    issues.error(r.child("name"), `"${name}" is not a valid hostname. Fix: lowercase letters, digits and "-", at most 63, not starting or ending with "-".`);
  }
  const roleRaw = r.raw("role");
  const role = r.oneOf("role", ROLES, "worker");
  if (roleRaw === undefined) issues.error(r.child("role"), `is required. Fix: role: manager or role: worker.`);
  const address = r.requiredString("address", "give the node's static IPv4 address, e.g. 192.168.99.101");
  if (address !== undefined && parseIpv4(address) === undefined) {
    issues.error(r.child("address"), `"${address}" is not an IPv4 address. Fix: write a dotted quad such as 192.168.99.101 (no prefix).`);
  }
  const sshPort = r.number("sshPort", DEFAULTS.sshPort, { min: 1, max: 65535, integer: true, fix: "give a TCP port between 1 and 65535 (default 22)." });
  const availability = r.oneOf("availability", AVAILABILITIES, DEFAULTS.availability);
  const labels = readLabels(issues, r);
  const zramMiB = readZram(issues, r);
  const memoryMiB = r.number("memoryMiB", DEFAULTS.memoryMiB, { min: 256, max: 1048576, integer: true, fix: "give the node's RAM in MiB, e.g. 2048 for a 2 GB Pi or 8192 for an 8 GB Pi." });
  const snippets = parseSnippets(issues, r, "snippets");
  r.rejectUnknownKeys();
  if (name === undefined || address === undefined) return undefined;
  return { name, role, address, sshPort, availability, labels, zramMiB, snippets, memoryMiB };
}

function checkTopology(issues: IssueList, nodes: readonly NodeConfig[], network: NetworkConfig): void {
  const subnet = parseCidr(network.subnet);
  const byName = new Map<string, number>();
  const byAddress = new Map<string, number>();
  nodes.forEach((node, i) => {
    const key = `homelab:nodes[${i}]`;
    const sameName = byName.get(node.name);
    if (sameName !== undefined) issues.error(`${key}.name`, `"${node.name}" is already used by homelab:nodes[${sameName}]. Fix: give every node its own name.`);
    byName.set(node.name, i);
    const sameAddress = byAddress.get(node.address);
    if (sameAddress !== undefined) issues.error(`${key}.address`, `${node.address} is already used by homelab:nodes[${sameAddress}]. Fix: give every node its own address.`);
    byAddress.set(node.address, i);
    const address = parseIpv4(node.address);
    if (address === undefined || subnet === undefined) return;
    if (!cidrContains(subnet, address)) {
      issues.error(`${key}.address`, `${node.address} is outside homelab:network.subnet ${network.subnet}. Fix: pick an address in that network or change the subnet.`);
    } else if (isNetworkOrBroadcast(subnet, address)) {
      issues.error(`${key}.address`, `${node.address} is the network or broadcast address of ${network.subnet}. Fix: pick a host address.`);
    } else if (node.address === network.gateway) {
      issues.error(`${key}.address`, `${node.address} is the gateway's address. Fix: pick an unused address.`);
    }
  });
  const managerCount = nodes.filter((n) => n.role === "manager").length;
  if (nodes.length > 0 && managerCount === 0) {
    issues.error("homelab:nodes", "no node has role manager; a swarm needs at least one. Fix: set role: manager on one node (three for a cluster that survives a failure).");
  } else if (managerCount > 0 && managerCount % 2 === 0) {
    issues.warn("homelab:nodes", `${managerCount} managers: an even number tolerates no more failures than ${managerCount - 1}. Consider ${managerCount - 1} or ${managerCount + 1}.`);
  }
}

/**
 * Validates the `homelab:` namespace of a stack config (keys without the prefix, values already
 * parsed from YAML/JSON) and applies defaults. Reports every problem at once.
 * @throws ConfigError naming each bad config key and its fix; nothing is rendered or created.
 */
/** Docker network and stack names: what `docker network create` and `docker stack deploy` accept, kept simple. */
const OBJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function readPlatform(issues: IssueList, r: MapReader): PlatformConfig {
  const networkItems = r.list("networks", "list shared overlay networks, e.g. [{name: traefik-public}, {name: monitoring, encrypted: true}]");
  const networks = networkItems.flatMap((item) => {
    const n = MapReader.of(issues, item.key, item.value);
    const name = n.requiredString("name", "give the network a name, e.g. traefik-public") ?? "";
    if (name !== "" && !OBJECT_NAME.test(name)) issues.error(n.child("name"), `"${name}" is not a network name. Fix: lower-case letters, digits, "-" and "_", up to 63 characters.`);
    const encrypted = n.boolean("encrypted", false);
    n.rejectUnknownKeys();
    return name === "" ? [] : [{ name, encrypted }];
  });
  const seen = new Set<string>();
  for (const [i, n] of networks.entries()) {
    if (seen.has(n.name)) issues.error(`${r.child("networks")}[${i}].name`, `"${n.name}" is listed twice. Fix: keep one entry.`);
    seen.add(n.name);
  }
  const stacks = r.stringList("stacks", "list folders of stacks/, e.g. [whoami]").map((item) => {
    if (!OBJECT_NAME.test(item.value)) issues.error(item.key, `"${item.value}" is not a stack name. Fix: the name of a folder of stacks/, in lower case.`);
    return item.value;
  });
  for (const [i, name] of stacks.entries()) {
    if (stacks.indexOf(name) !== i) issues.error(`${r.child("stacks")}[${i}]`, `"${name}" is listed twice. Fix: keep one entry.`);
  }
  const traefik = readTraefik(issues, r.map("traefik"));
  const dns = readDns(issues, r.map("dns"));
  const monitoring = readMonitoring(issues, r.map("monitoring"));
  const jit = readJit(issues, r);
  const backup = readBackup(issues, r);
  const gitops = readGitOps(issues, r);
  r.rejectUnknownKeys();
  return { networks: r.raw("networks") === undefined ? DEFAULT_NETWORKS : networks, stacks: r.raw("stacks") === undefined ? DEFAULT_STACKS : stacks, traefik, dns, monitoring, jit, backup, gitops };
}

/** A git branch name as the runner fetches it (refs/heads/<branch>): no spaces, no "..", no leading "-". */
const GIT_BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._\/-]+(?<![./])$/;

/**
 * homelab:platform.gitops: `{repository, branch, interval, backend}`, or false / absent for none.
 * The secrets it needs are checked with the stacks (config/stacks.ts), where the config's secret
 * keys are known.
 */
function readGitOps(issues: IssueList, r: MapReader): GitOpsConfig | false {
  const raw = r.raw("gitops");
  if (raw === undefined || raw === null || raw === false) return false;
  const g = r.map("gitops");
  const repository = g.requiredString("repository", "the homelab repository's https:// URL, e.g. https://forgejo.home.arpa/me/homelab.git") ?? "";
  let url: URL | undefined;
  try {
    url = new URL(repository);
  } catch {
    url = undefined;
  }
  if (repository !== "" && (!url || (url.protocol !== "https:" && url.protocol !== "http:"))) {
    issues.error(g.child("repository"), `${JSON.stringify(repository)} is not an https:// URL. Fix: the repository's https:// clone URL, e.g. https://github.com/me/homelab.git (the runner's image, pulumi/pulumi-nodejs, has git but no ssh client; give it read access with homelab:gitopsToken).`);
  } else if (url && (url.username !== "" || url.password !== "")) {
    issues.error(g.child("repository"), `holds a user or token in the URL, and homelab:platform is plain config (secrets never go there). Fix: the URL without it, and the token as a secret: pulumi config set --secret homelab:gitopsToken <token>.`);
  }
  const branch = g.string("branch", DEFAULT_GITOPS_BRANCH, "a branch name, e.g. main");
  if (!GIT_BRANCH.test(branch)) issues.error(g.child("branch"), `${JSON.stringify(branch)} is not a branch name. Fix: the branch the runner follows, e.g. main.`);
  const interval = g.string("interval", DEFAULT_GITOPS_INTERVAL, "a duration such as 5m");
  const seconds = parseDurationSeconds(interval);
  if (seconds === undefined || seconds < GITOPS_INTERVAL_MIN_SECONDS || seconds > GITOPS_INTERVAL_MAX_SECONDS) {
    issues.error(g.child("interval"), `expected a duration from 1m to 24h, got ${JSON.stringify(interval)}. Fix: e.g. 5m (webhooks start a run at once; the poll is the fallback).`);
  }
  const backend = g.requiredString("backend", "the state backend both you and the runner reach, e.g. s3://homelab-pulumi?endpoint=http://nas.home.arpa:9000&use_path_style=true&region=us-east-1") ?? "";
  if (backend !== "" && !backend.startsWith("s3://")) {
    issues.error(g.child("backend"), `${JSON.stringify(backend)} is not an s3:// backend. Fix: an S3 bucket both your laptop and the cluster reach, e.g. s3://homelab-pulumi?endpoint=http://nas.home.arpa:9000&use_path_style=true&region=us-east-1; a file:// state lives on one machine only (docs/gitops.md: moving the state).`);
  } else if (/[?&](access_?key|secret|password|token)/i.test(backend)) {
    issues.error(g.child("backend"), `holds a credential in the URL. Fix: the URL without it, and the keys as secrets: homelab:gitopsBackendAccessKeyId and homelab:gitopsBackendSecretAccessKey.`);
  }
  g.rejectUnknownKeys();
  return { repository, branch, interval, backend };
}

/** Prometheus' duration and size syntax (--storage.tsdb.retention.time / .size). */
const PROMETHEUS_DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;
const PROMETHEUS_SIZE = /^\d+(?:B|KB|MB|GB|TB|PB|EB)$/;

function readMonitoring(issues: IssueList, r: MapReader): MonitoringConfig {
  const retention = r.map("retention");
  const time = retention.string("time", DEFAULT_RETENTION.time, "a Prometheus duration, e.g. 30d");
  if (!PROMETHEUS_DURATION.test(time)) issues.error(retention.child("time"), `"${time}" is not a Prometheus duration. Fix: a number and a unit (ms, s, m, h, d, w, y), e.g. 30d or 2w.`);
  const size = retention.string("size", DEFAULT_RETENTION.size, "a Prometheus size, e.g. 4GB");
  if (!PROMETHEUS_SIZE.test(size)) issues.error(retention.child("size"), `"${size}" is not a Prometheus size. Fix: a whole number and a unit (B, KB, MB, GB, TB), e.g. 4GB (the Pi's SD card holds the OS and images too).`);
  retention.rejectUnknownKeys();
  const ntfy = r.map("ntfy");
  const ntfyServer = ntfy.string("server", DEFAULT_NTFY_SERVER, "the ntfy server's URL, e.g. https://ntfy.sh").replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/?#]+(?:\/[^\s?#]*)?$/.test(ntfyServer)) issues.error(ntfy.child("server"), `"${ntfyServer}" is not an http(s) URL without a query. Fix: e.g. https://ntfy.sh; the topic is the secret homelab:ntfyTopic.`);
  ntfy.rejectUnknownKeys();
  r.rejectUnknownKeys();
  return { retention: { time, size }, ntfyServer };
}

const JIT_SERVICE = /^[a-z0-9][a-z0-9_-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * homelab:platform.jit: `<stack>/<service>: {idle: 30m}` entries added to the seed's defaults, or
 * `false` to keep one of those always on.
 */
function readJit(issues: IssueList, r: MapReader): JitServiceConfig[] {
  const key = r.child("jit");
  const raw = r.raw("jit");
  const byService = new Map(DEFAULT_JIT.map((j) => [j.service, j]));
  if (raw === undefined || raw === null) return [...byService.values()];
  if (!isPlainObject(raw)) {
    issues.error(key, `expected a map of <stack>/<service> to {idle: 30m} or false, got ${Array.isArray(raw) ? "a list" : typeof raw}. Fix: e.g. "vaultwarden/vaultwarden: {idle: 30m}".`);
    return [...byService.values()];
  }
  for (const [service, value] of Object.entries(raw)) {
    const at = `${key}.${service}`;
    if (!JIT_SERVICE.test(service)) {
      issues.error(at, `"${service}" does not name a service. Fix: <stack>/<service>, as in stacks/<stack>/compose.yml, e.g. vaultwarden/vaultwarden.`);
      continue;
    }
    if (value === false) {
      byService.delete(service);
      continue;
    }
    const entry = MapReader.of(issues, at, value);
    const idle = entry.string("idle", "30m", "a duration such as 30m or 1h");
    const seconds = parseDurationSeconds(idle);
    if (seconds === undefined || seconds < 60) issues.error(entry.child("idle"), `"${idle}" is not a duration of a minute or more. Fix: e.g. 30m or 1h (false instead of the map keeps the service always on).`);
    entry.rejectUnknownKeys();
    byService.set(service, { service, idle });
  }
  return [...byService.values()];
}

/** Backups every 15 minutes at most (a run must end before the next) and once a week at least. */
const BACKUP_EVERY_MIN_SECONDS = 15 * 60;
const BACKUP_EVERY_MAX_SECONDS = 7 * 86400;
/**
 * The restic repository forms the agent gives credentials to (services/backup: S3 keys as a shared
 * credentials file, an SSH key for SFTP; a REST server without a password). Others are refused
 * with the reason (https://restic.readthedocs.io/en/stable/030_preparing_a_new_repo.html).
 */
const RESTIC_REPOSITORY = /^(?:sftp|rest|s3):\S+$/;
/** A REST server URL with a password in it: restic 0.14 takes it only there, which would put it in the plain config. */
const REST_WITH_PASSWORD = /^rest:[a-z]+:\/\/[^/@]*:[^/@]*@/;
/** One OpenSSH known_hosts line: host pattern(s), key type, base64 key. */
const KNOWN_HOSTS_LINE = /^\S+ (?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*$/;
/** A volume as Swarm names it: `<stack>_<volume key>` (compose/names.ts: a stack name has no "_"). */
const SWARM_VOLUME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?_[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * homelab:platform.backup: `{schedule, repository, retention: {daily, weekly, monthly}, exclude}`,
 * each key defaulting to DEFAULT_BACKUP's, `true` for all the defaults, or `false` for no backups.
 * Whether an exclude entry names a real volume needs the stacks: compose/backup.ts checks that.
 */
function readBackup(issues: IssueList, r: MapReader): BackupConfig | false {
  const raw = r.raw("backup");
  if (raw === false) return false;
  if (raw === undefined || raw === null || raw === true) return DEFAULT_BACKUP;
  const b = r.map("backup");
  const schedule = b.string("schedule", DEFAULT_BACKUP.schedule, 'a time such as "03:00" or a duration such as 6h');
  const parsed = parseBackupSchedule(schedule);
  if (parsed === undefined) {
    issues.error(b.child("schedule"), `expected HH:MM (24 h) or a duration such as 6h, got ${JSON.stringify(schedule)}. Fix: "03:00" backs up daily at 03:00 (the nodes' clock), 6h every 6 hours.`);
  } else if (parsed.kind === "every" && (parsed.seconds < BACKUP_EVERY_MIN_SECONDS || parsed.seconds > BACKUP_EVERY_MAX_SECONDS)) {
    issues.error(b.child("schedule"), `every ${schedule} is ${parsed.seconds < BACKUP_EVERY_MIN_SECONDS ? "too often (a run must end before the next)" : "too rare"}. Fix: a duration from 15m to 168h, e.g. 6h, or a daily time such as "03:00".`);
  }
  const repository = b.string("repository", DEFAULT_BACKUP.repository, "a restic repository, e.g. s3:https://s3.example.org/homelab");
  if (repository !== DEFAULT_BACKUP_REPOSITORY && repository.startsWith("/")) {
    issues.error(b.child("repository"), `${JSON.stringify(repository)} is a local path: each volume is backed up on its own node, so that would be a different repository on every node, lost with its disk. Fix: an S3, SFTP or REST repository off the node, e.g. sftp:backup@nas.home.arpa:/srv/restic; leave it out for the cluster's MinIO.`);
  } else if (repository !== DEFAULT_BACKUP_REPOSITORY && !RESTIC_REPOSITORY.test(repository)) {
    issues.error(b.child("repository"), `${JSON.stringify(repository)} is not a restic repository the backups support (s3:, sftp: or rest:). Fix: e.g. s3:https://s3.example.org/homelab, sftp:user@host:/srv/restic or rest:https://host:8000/; leave it out for the cluster's MinIO.`);
  } else if (REST_WITH_PASSWORD.test(repository)) {
    issues.error(b.child("repository"), `holds a password in the URL, and homelab:platform is plain config (secrets never go there). Fix: a REST server that needs no password on the LAN, or an SFTP or S3 repository, whose keys are secrets (README: Backups).`);
  }
  const knownHosts = b.stringList("knownHosts", "list OpenSSH known_hosts lines of the SFTP server, e.g. [\"nas.home.arpa ssh-ed25519 AAAA…\"]").map((item) => {
    if (!KNOWN_HOSTS_LINE.test(item.value.trim())) issues.error(item.key, `is not a known_hosts line. Fix: the output of ssh-keyscan -t ed25519 <host> on the LAN, e.g. "nas.home.arpa ssh-ed25519 AAAA…", checked against the server's own key.`);
    return item.value.trim();
  });
  if (repository.startsWith("sftp:") && knownHosts.length === 0) {
    issues.error(b.child("knownHosts"), `is needed for an sftp: repository: the jobs must know the server's key (they never accept an unknown one). Fix: pulumi config set --path 'homelab:platform.backup.knownHosts[0]' "$(ssh-keyscan -t ed25519 <host>)", after checking the key on the server.`);
  } else if (!repository.startsWith("sftp:") && knownHosts.length > 0) {
    issues.error(b.child("knownHosts"), `is only for an sftp: repository. Fix: remove it, or use an sftp: repository.`);
  }
  const kept = b.map("retention");
  const count = (name: keyof BackupConfig["retention"]) =>
    kept.number(name, DEFAULT_BACKUP.retention[name], { min: 0, integer: true, fix: `a whole number of ${name} snapshots to keep, 0 or more, e.g. ${DEFAULT_BACKUP.retention[name]}.` });
  const retention = { daily: count("daily"), weekly: count("weekly"), monthly: count("monthly") };
  kept.rejectUnknownKeys();
  if (retention.daily + retention.weekly + retention.monthly === 0) {
    issues.error(b.child("retention"), `keeps no snapshot (daily, weekly and monthly are all 0), so restic would forget every backup. Fix: keep at least one, e.g. daily: 7, or set homelab:platform.backup to false.`);
  }
  const exclude = b.stringList("exclude", "list volumes by their Swarm names, e.g. [mealie_data]").map((item, i, all) => {
    if (!SWARM_VOLUME.test(item.value)) issues.error(item.key, `"${item.value}" is not a volume as Swarm names it. Fix: <stack>_<volume>, the stack's folder and the key under its compose file's volumes:, e.g. mealie_data.`);
    else if (all.findIndex((other) => other.value === item.value) !== i) issues.error(item.key, `"${item.value}" is listed twice. Fix: keep one entry.`);
    return item.value;
  });
  b.rejectUnknownKeys();
  return { schedule, repository, retention, exclude, knownHosts };
}

/** An upstream as AdGuard Home takes it: an address (with a port), or a DoT/DoH/DoQ URL. */
const DNS_UPSTREAM = /^(?:(?:udp|tcp|tls|https|quic|sdns):\/\/)?[^\s]+$/;

function readDns(issues: IssueList, r: MapReader): DnsConfig {
  const items = r.stringList("upstreams", "list resolvers, e.g. [9.9.9.9, tls://dns.quad9.net]");
  for (const item of items.filter((i) => !DNS_UPSTREAM.test(i.value))) {
    issues.error(item.key, `"${item.value}" is not a resolver AdGuard Home can use. Fix: an address such as 9.9.9.9 or 9.9.9.9:53, or a URL such as tls://dns.quad9.net.`);
  }
  if (r.raw("upstreams") !== undefined && items.length === 0) issues.error(r.child("upstreams"), "is empty, so no name outside the homelab would resolve. Fix: list at least one resolver, or remove the key for Quad9.");
  r.rejectUnknownKeys();
  return { upstreams: r.raw("upstreams") === undefined ? DEFAULT_DNS_UPSTREAMS : items.map((i) => i.value) };
}

function readTraefik(issues: IssueList, r: MapReader): TraefikConfig {
  const internalRanges = r.stringList("internalRanges", "list IPv4 ranges in CIDR form, e.g. [192.168.20.0/24]").flatMap((item) => {
    if (parseCidr(item.value)) return [item.value];
    issues.error(item.key, `"${item.value}" is not an IPv4 range. Fix: CIDR form, e.g. 192.168.20.0/24 (homelab:network.subnet and the tailnet are always included).`);
    return [];
  });
  const publicLane = r.boolean("publicLane", false);
  const dashboardHost = r.string("dashboardHost", DEFAULTS.dashboardHost, "one DNS label, e.g. traefik");
  if (!HOSTNAME.test(dashboardHost)) issues.error(r.child("dashboardHost"), `"${dashboardHost}" is not one DNS label. Fix: lower-case letters, digits and "-", e.g. traefik.`);
  const acme = r.raw("acme") === undefined ? undefined : readAcme(issues, r.map("acme"));
  r.rejectUnknownKeys();
  return { internalRanges, publicLane, dashboardHost, ...(acme ? { acme } : {}) };
}

/** lego's names: upper-case letters, digits and "_" (e.g. CF_DNS_API_TOKEN). */
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
const CONFIG_KEY = /^[a-z][a-zA-Z0-9]*$/;

function readAcme(issues: IssueList, r: MapReader): AcmeConfig | undefined {
  const email = r.requiredString("email", "the address your ACME CA writes to about expiring certificates, e.g. you@example.org") ?? "";
  if (email !== "" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) issues.error(r.child("email"), `"${email}" is not an email address. Fix: e.g. you@example.org.`);
  const dnsProvider = r.requiredString("dnsProvider", "the lego provider name of your DNS host, e.g. cloudflare (https://go-acme.github.io/lego/dns/)") ?? "";
  if (dnsProvider !== "" && !/^[a-z0-9][a-z0-9.-]*$/.test(dnsProvider)) issues.error(r.child("dnsProvider"), `"${dnsProvider}" is not a lego provider name. Fix: lower case, e.g. cloudflare.`);
  const raw = r.raw("credentials");
  const credentials: Record<string, string> = {};
  if (raw !== undefined && !isPlainObject(raw)) {
    issues.error(r.child("credentials"), `expected a map of the provider's variables to config keys, e.g. {CF_DNS_API_TOKEN: cloudflareToken}.`);
  }
  for (const [env, key] of Object.entries(isPlainObject(raw) ? raw : {})) {
    const at = `${r.child("credentials")}.${env}`;
    if (!ENV_NAME.test(env) || env.endsWith("_FILE")) issues.error(at, `"${env}" is not one of lego's variable names. Fix: the name without _FILE, e.g. CF_DNS_API_TOKEN (the platform passes it as a file).`);
    else if (typeof key !== "string" || !CONFIG_KEY.test(key)) issues.error(at, `expected the camelCase key of a config secret, got ${JSON.stringify(key)}. Fix: e.g. ${env}: acmeToken, then pulumi config set --secret homelab:acmeToken <value>.`);
    else credentials[env] = key;
  }
  const caServer = r.raw("caServer") === undefined ? undefined : r.string("caServer", "", "the ACME directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory");
  if (caServer !== undefined && caServer !== "" && !/^https:\/\/\S+$/.test(caServer)) issues.error(r.child("caServer"), `"${caServer}" is not an https URL. Fix: e.g. https://acme-staging-v02.api.letsencrypt.org/directory.`);
  r.rejectUnknownKeys();
  return { email, dnsProvider, credentials, ...(caServer ? { caServer } : {}) };
}

/**
 * @param secretKeys keys (without `homelab:`) the stack config holds as secrets (`pulumi config set
 * --secret`): the stacks' and the platform's credentials, checked where they are used
 * (config/stacks.ts), never settings, so not reported as unknown here.
 */
export function validateConfig(raw: Record<string, unknown>, secretKeys: readonly string[] = []): ValidationResult {
  const issues = new IssueList();
  const root = MapReader.of(issues, "homelab:", raw);
  const domain = root.string("domain", DEFAULTS.domain, "give a DNS domain such as home.arpa").toLowerCase();
  if (!DOMAIN.test(domain)) {
    issues.error("homelab:domain", `"${domain}" is not a DNS domain. Fix: dot-separated labels of letters, digits and "-", e.g. home.arpa.`);
  } else if (domain === "local" || domain.endsWith(".local")) {
    issues.warn("homelab:domain", `"${domain}" is reserved for mDNS and resolves unreliably. Consider home.arpa (RFC 8375).`);
  }
  const arch = root.oneOf("arch", ARCHES, DEFAULTS.arch);
  const network = readNetwork(issues, root.map("network"));
  const ssh = readSsh(issues, root.map("ssh"));
  const updates = readUpdates(issues, root.map("updates"));
  const snippets = parseSnippets(issues, root, "snippets");
  const nodeItems = root.list("nodes", "list nodes as {name, role, address}");
  if (nodeItems.length === 0) {
    issues.error("homelab:nodes", "no nodes. Fix: list your Pis, e.g. - {name: swarm-manager-1, role: manager, address: 192.168.99.101}.");
  }
  const nodes = nodeItems.flatMap((item) => readNode(issues, item.key, item.value) ?? []);
  const platform = readPlatform(issues, root.map("platform"));
  root.rejectUnknownKeys(new Set(secretKeys));
  checkTopology(issues, nodes, network);
  if (updates.rebootStrategy === "staggered" && nodes.filter((n) => n.role === "manager").length > 7) {
    issues.error("homelab:updates.rebootStrategy", "staggered gives each manager its own weekday, so it allows at most 7 managers. Fix: use off and reboot by hand.");
  }
  if (issues.errors.length > 0) throw new ConfigError(issues.errors);
  return { config: { domain, arch, network, ssh, updates, snippets, nodes, platform }, warnings: issues.warnings };
}
