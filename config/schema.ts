/**
 * The typed stack config: what `Pulumi.<stack>.yaml` holds under the `homelab:` namespace,
 * after validation and defaults. Everything downstream (Ignition, swarm, outputs) reads only this.
 */

export type Arch = "arm64" | "amd64";
export const ARCHES: readonly Arch[] = ["arm64", "amd64"];

export type Role = "manager" | "worker";
export const ROLES: readonly Role[] = ["manager", "worker"];

export type Availability = "active" | "pause" | "drain";
export const AVAILABILITIES: readonly Availability[] = ["active", "pause", "drain"];

/**
 * How Flatcar's locksmithd reboots nodes after an update.
 * staggered: each manager gets its own weekday window, so at most one manager reboots at a time;
 *   workers take the days after the managers' (wrapping round the week).
 * reboot: every node reboots in the same window (fine for a single node).
 * off: never reboot by itself (you reboot nodes by hand, one at a time).
 */
export type RebootStrategy = "staggered" | "reboot" | "off";
export const REBOOT_STRATEGIES: readonly RebootStrategy[] = ["staggered", "reboot", "off"];

export type UpdateGroup = "stable" | "beta" | "alpha" | "lts";
export const UPDATE_GROUPS: readonly UpdateGroup[] = ["stable", "beta", "alpha", "lts"];

export interface NetworkConfig {
  /** The LAN the nodes live on (e.g. 192.168.99.0/24). */
  readonly subnet: string;
  /** Default route (e.g. 192.168.99.1); must be inside the subnet. */
  readonly gateway: string;
  /** DNS resolvers (e.g. [192.168.99.1, 9.9.9.9]); default: the gateway. */
  readonly dns: readonly string[];
  /** networkd `[Match] Name=` of the wired NIC (default `en*`: the Pi 4's NIC is `enabcm6e4ei0` under UEFI/ACPI, not eth0). */
  readonly interfaceMatch: string;
  /** NTP servers (default: none, so Flatcar's pool is used). Pis have no RTC: a local NTP server helps TLS at boot. */
  readonly ntp: readonly string[];
}

export interface SshConfig {
  /** Public keys that may log in as `core` (e.g. "ssh-ed25519 AAAA… you@laptop"); Pulumi adds its own deploy key. */
  readonly authorizedKeys: readonly string[];
  /** How long to keep dialling a node that is still booting, in minutes (default 30: first boot on a Pi is slow). */
  readonly waitMinutes: number;
}

export interface UpdatesConfig {
  readonly rebootStrategy: RebootStrategy;
  /**
   * Start of the reboot window, `HH:MM` in the node's time zone (UTC); `Day HH:MM` (e.g. `Sun 03:00`)
   * for a weekly window, except under the staggered strategy, which gives each node its own weekday.
   */
  readonly windowStart: string;
  /** Length of the reboot window as a Go duration (e.g. 1h, 90m); shorter than a day, or a week when windowStart names a day. */
  readonly windowLength: string;
  /** Flatcar release channel (default stable). */
  readonly group: UpdateGroup;
}

/** A file a snippet adds to a node (contents inline; mode parsed from an octal string like "0644"). */
export interface SnippetFile {
  readonly path: string;
  readonly contents: string;
  readonly mode: number;
  readonly overwrite: boolean;
}

/** A systemd unit a snippet adds or changes (contents optional when only enabling, masking or adding drop-ins). */
export interface SnippetUnit {
  readonly name: string;
  readonly contents?: string;
  readonly enabled?: boolean;
  readonly mask?: boolean;
  readonly dropins: readonly { readonly name: string; readonly contents: string }[];
}

/** Extra files and units merged after the base Ignition config (Typhoon-style snippets). First boot only. */
export interface Snippet {
  readonly files: readonly SnippetFile[];
  readonly units: readonly SnippetUnit[];
}

export interface NodeConfig {
  /** Hostname and stable identity (e.g. swarm-manager-1); renaming a node replaces it. */
  readonly name: string;
  readonly role: Role;
  /** Static IPv4 address inside network.subnet. */
  readonly address: string;
  /** SSH port: sshd listens on it (Ignition moves sshd.socket) and Pulumi dials it (default 22). */
  readonly sshPort: number;
  /** Swarm node labels (e.g. {storage: ssd}); stateful services are pinned with them. */
  readonly labels: Readonly<Record<string, string>>;
  /** Swarm availability (default active). */
  readonly availability: Availability;
  /** zram swap size in MiB, or 0 for none (`zram: true` means DEFAULT_ZRAM_MIB: good for 2 GB Pis). */
  readonly zramMiB: number;
  /** Extra files and units for this node, after the cluster-wide snippets. */
  readonly snippets: readonly Snippet[];
  /** RAM of the node in MiB (default 2048, the seed's Pis): always-on services may reserve 75% of it. */
  readonly memoryMiB: number;
}

/** An overlay network the stacks share; the platform creates it before any stack. */
export interface SharedNetwork {
  readonly name: string;
  /** IPsec between nodes (Swarm's `--opt encrypted`); costs CPU on a Pi. */
  readonly encrypted: boolean;
}

/** How Traefik (stacks/traefik) routes: who is on the internal lane, and whether there is a public one. */
export interface TraefikConfig {
  /** Ranges on the internal lane besides homelab:network.subnet and the tailnet (e.g. a second VLAN). */
  readonly internalRanges: readonly string[];
  /** Whether Traefik serves the public lane on PUBLIC_LANE_PORT (the home router forwards 443 to it). */
  readonly publicLane: boolean;
  /** The dashboard's host: https://<dashboardHost>.<domain>. */
  readonly dashboardHost: string;
  /** A publicly trusted wildcard certificate by ACME DNS challenge, for a real domain; absent: the homelab CA's only. */
  readonly acme?: AcmeConfig;
}

/** Let's Encrypt (or another ACME CA) by DNS challenge: no port needs to be open to the internet. */
export interface AcmeConfig {
  readonly email: string;
  /** A lego DNS provider name as Traefik knows it, e.g. cloudflare, duckdns, hetzner. */
  readonly dnsProvider: string;
  /** The provider's environment variables (lego's names) → the homelab: config secrets holding them. */
  readonly credentials: Readonly<Record<string, string>>;
  /** The ACME directory (default Let's Encrypt's production one). */
  readonly caServer?: string;
}

/** AdGuard Home (stacks/dns): what it asks for names that are not the homelab's. */
export interface DnsConfig {
  readonly upstreams: readonly string[];
}

/** Prometheus' retention (stacks/monitoring): whichever limit is reached first drops the oldest data. */
export interface RetentionConfig {
  /** A Prometheus duration, e.g. 30d. */
  readonly time: string;
  /** A Prometheus size, e.g. 4GB: with the images and the OS, a 16 GB SD card keeps room to spare. */
  readonly size: string;
}

/** The monitoring stack (stacks/monitoring): how long it keeps data and where its alerts go. */
export interface MonitoringConfig {
  readonly retention: RetentionConfig;
  /**
   * The ntfy server Alertmanager posts alerts to (https://ntfy.sh or your own). The topic is the
   * config secret homelab:ntfyTopic, made by @pulumi/random when unset: whoever knows it reads the alerts.
   */
  readonly ntfyServer: string;
}

/** A just-in-time service: asleep at zero replicas until a request comes, stopped again after `idle` without one. */
export interface JitServiceConfig {
  /** `<stack>/<service>`, e.g. vaultwarden/vaultwarden. */
  readonly service: string;
  /** A duration such as 30m: no request and no open connection for this long puts it back to sleep. */
  readonly idle: string;
}

/** How many snapshots restic's `forget` keeps of each kind (non-negative integers, at least one above 0). */
export interface BackupRetention {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

/**
 * Backups of the stacks' named volumes (compose/backup.ts plans them): the backup agent
 * (services/backup, one task on a manager) runs a restic job per volume on that volume's node
 * (docs/backups.md). Credentials are secrets of the stack config, never here:
 * homelab:backupSshKey (sftp:), homelab:backupS3AccessKeyId and homelab:backupS3SecretAccessKey
 * (s3:, other than the default), homelab:backupPassword (optional: else generated).
 */
export interface BackupConfig {
  /**
   * When backups run: `HH:MM` (24 h) once a day at that time of the nodes' clock (UTC, as for
   * updates.windowStart), or a duration such as `6h` for every 6 hours (config/duration.ts: parseBackupSchedule).
   */
  readonly schedule: string;
  /** A restic repository (e.g. `s3:https://s3.example.org/homelab`, `sftp:user@host:/srv/restic`), or DEFAULT_BACKUP_REPOSITORY. */
  readonly repository: string;
  readonly retention: BackupRetention;
  /** Volumes left out, by their Swarm names `<stack>_<volume>` (e.g. `mealie_data`). */
  readonly exclude: readonly string[];
  /** For an sftp: repository: the server's known_hosts lines (public keys; the jobs accept no other). */
  readonly knownHosts: readonly string[];
}

/**
 * GitOps (docs/gitops.md): a runner in the cluster (stacks/gitops, one task on a manager) follows
 * a branch of the owner's homelab repository, previews each new commit, and applies it unless the
 * preview failed or would remove or rebuild a node, the swarm or a stateful stack. Secrets are
 * stack config secrets, never here: homelab:gitopsPassphrase (the stack's secrets passphrase,
 * required), homelab:gitopsToken (read access to the repository, unless it is public),
 * homelab:gitopsBackendAccessKeyId and homelab:gitopsBackendSecretAccessKey (the state bucket's keys),
 * homelab:gitopsWebhookSecret (optional: else generated, in the generatedSecrets output).
 */
export interface GitOpsConfig {
  /** The repository as the runner fetches it: an `https://` URL (or `http://` on the LAN), no credentials in it. */
  readonly repository: string;
  readonly branch: string;
  /** How often the branch is polled (a duration: 1m to 24h); webhooks trigger a run at once. */
  readonly interval: string;
  /** The stack's state backend, shared by the owner and the runner: an `s3://` DIY backend URL (docs/gitops.md: moving the state). */
  readonly backend: string;
}

export interface PlatformConfig {
  /** Networks created before any stack (stacks name them `external: true`). */
  readonly networks: readonly SharedNetwork[];
  /** Folders of stacks/ to deploy, in order of listing; a stack left out is removed from the swarm. */
  readonly stacks: readonly string[];
  readonly traefik: TraefikConfig;
  readonly dns: DnsConfig;
  readonly monitoring: MonitoringConfig;
  /**
   * Just-in-time services, by `<stack>/<service>`. They count as off in the memory budget (what
   * they reserve is checked when they wake); an entry whose stack is not deployed is ignored.
   */
  readonly jit: readonly JitServiceConfig[];
  /** Backups of the stateful services' volumes, or false for none. */
  readonly backup: BackupConfig | false;
  /** The cluster follows a git repository, or false (the default) for none. */
  readonly gitops: GitOpsConfig | false;
}

export interface HomelabConfig {
  /** DNS domain of the homelab (default home.arpa, RFC 8375; not .local, which is mDNS). */
  readonly domain: string;
  readonly arch: Arch;
  readonly network: NetworkConfig;
  readonly ssh: SshConfig;
  readonly updates: UpdatesConfig;
  /** Snippets applied to every node, before the node's own. */
  readonly snippets: readonly Snippet[];
  /** Nodes in config order: a new swarm starts on the first manager that answers, and staggered reboot windows follow it. */
  readonly nodes: readonly NodeConfig[];
  /** What runs on the swarm: shared networks and the stacks. */
  readonly platform: PlatformConfig;
}

/** zram size used for `zram: true`: half of a 2 GB Pi's RAM. */
export const DEFAULT_ZRAM_MIB = 1024;

/** The networks the stacks of stacks/ share when the config names none. */
export const DEFAULT_NETWORKS: readonly SharedNetwork[] = [
  { name: "traefik-public", encrypted: false },
  { name: "monitoring", encrypted: false },
];

/**
 * The stacks deployed when the config names none: the platform's own, monitoring and the seed's
 * apps (tailscale too needs an auth key: add it with homelab:tailscaleAuthKey).
 */
export const DEFAULT_STACKS: readonly string[] = ["traefik", "dns", "monitoring", "vaultwarden", "forgejo", "mealie", "minio", "homeassistant"];

/** The seed's 2 GB Pis each boot from a 16 GB SD card: Flatcar's partitions and the images take ~6 GB. */
export const DEFAULT_RETENTION: RetentionConfig = { time: "30d", size: "4GB" };
export const DEFAULT_NTFY_SERVER = "https://ntfy.sh";
export const DEFAULT_MONITORING: MonitoringConfig = { retention: DEFAULT_RETENTION, ntfyServer: DEFAULT_NTFY_SERVER };

/**
 * The apps the seed runs just in time, with its timeouts (minio 30 min, forgejo and mealie 60;
 * Vaultwarden, missing from its list, gets 30).
 */
export const DEFAULT_JIT: readonly JitServiceConfig[] = [
  { service: "vaultwarden/vaultwarden", idle: "30m" },
  { service: "forgejo/forgejo", idle: "60m" },
  { service: "mealie/mealie", idle: "60m" },
  { service: "minio/minio", idle: "30m" },
];

/**
 * The cluster's own MinIO (stacks/minio), bucket homelab-backups. Not a restic URL: the platform
 * renders it into MinIO's address, with MinIO's generated keys as a secret file
 * (compose/backupAgent.ts). It is not off-site: a copy elsewhere needs a repository of your own.
 */
export const DEFAULT_BACKUP_REPOSITORY = "homelab-minio";
export const DEFAULT_BACKUP_RETENTION: BackupRetention = { daily: 7, weekly: 4, monthly: 6 };
export const DEFAULT_BACKUP: BackupConfig = { schedule: "03:00", repository: DEFAULT_BACKUP_REPOSITORY, retention: DEFAULT_BACKUP_RETENTION, exclude: [], knownHosts: [] };

export const DEFAULT_GITOPS_BRANCH = "main";
export const DEFAULT_GITOPS_INTERVAL = "5m";
export const GITOPS_INTERVAL_MIN_SECONDS = 60;
export const GITOPS_INTERVAL_MAX_SECONDS = 24 * 3600;

/** Quad9 (filtering, no logging of addresses): AdGuard Home's upstreams when the config names none. */
export const DEFAULT_DNS_UPSTREAMS: readonly string[] = ["9.9.9.9", "149.112.112.112"];

export const DEFAULTS = {
  domain: "home.arpa",
  arch: "arm64" as Arch,
  interfaceMatch: "en*",
  waitMinutes: 30,
  rebootStrategy: "staggered" as RebootStrategy,
  windowStart: "03:00",
  windowLength: "1h",
  group: "stable" as UpdateGroup,
  sshPort: 22,
  memoryMiB: 2048,
  dashboardHost: "traefik",
  availability: "active" as Availability,
} as const;
