/**
 * What the platform needs to know about one stack (a compose file under `stacks/<name>/`), read by
 * pure functions so the Pulumi components only wire it to resources (DESIGN.md: keep rendering
 * apart from wiring). Nothing here holds a secret value: secrets are named by their source and
 * their values only ever exist as Pulumi secrets.
 */

/**
 * Where a Swarm secret's value comes from. A compose file says it under the top-level secret's
 * `x-homelab:` key, because compose itself only knows `file:` (a secret in the repository) and
 * `environment:` (a secret in the deployer's shell), and both are refused.
 */
export type SecretSource =
  /** Made by @pulumi/random (`x-homelab: { generate: { length: 32 } }`), kept in the Pulumi state as a secret. */
  | { readonly kind: "random"; readonly length: number }
  /** The owner's `pulumi config set --secret homelab:<key> …` (`x-homelab: { config: <key> }`). */
  | { readonly kind: "config"; readonly key: string }
  /** Something the platform itself makes (`x-homelab: { platform: tls-key }`): see PLATFORM_SECRETS. */
  | { readonly kind: "platform"; readonly name: PlatformSecret };

/**
 * What the platform makes that a stack may mount as a secret: the wildcard certificate's key and
 * certificate, the homelab CA's certificate (components/tls.ts), the Traefik dashboard's htpasswd
 * line, AdGuard Home's configuration (routing/dns.ts: it holds the admin's bcrypt hash),
 * Alertmanager's (monitoring/alertmanager.ts: it holds the ntfy topic), and for the backup agent
 * (compose/backup.ts): the restic password, the repository's credentials file, the SSH key and
 * its server's known hosts, and the JIT helper's token (the same value as stacks/jit's jit_token);
 * for the GitOps runner (compose/gitops.ts): the state bucket's credentials file and the ntfy topic
 * (the one Alertmanager sends to).
 */
export const PLATFORM_SECRETS = [
  "tls-key",
  "tls-certificate",
  "ca-certificate",
  "traefik-dashboard-users",
  "adguard-config",
  "alertmanager-config",
  "backup-password",
  "backup-credentials",
  "backup-ssh-key",
  "backup-known-hosts",
  "jit-token",
  "gitops-backend-credentials",
  "ntfy-topic",
] as const;
export type PlatformSecret = (typeof PLATFORM_SECRETS)[number];

/**
 * Config files the platform renders from the homelab config (`x-homelab: { platform: traefik-static }`
 * under a top-level config): what only the config knows (the domain, the LAN's ranges, every
 * routed host) stays out of the compose file, which keeps it a plain file.
 */
export const PLATFORM_CONFIGS = ["traefik-static", "traefik-dynamic", "jit-config", "jit-program", "jit-socket-filter", "backup-config", "backup-program", "backup-socket-filter", "gitops-config", "gitops-program"] as const;
export type PlatformConfigFile = (typeof PLATFORM_CONFIGS)[number];

/**
 * Who may reach a routed service: `internal` (the LAN and tailnet ranges only, on :443) or also
 * `public` (the optional public entry point the home router forwards to, e.g. :8443).
 */
export const ROUTE_LANES = ["internal", "public"] as const;
export type RouteLane = (typeof ROUTE_LANES)[number];

/** A service reached through Traefik at https://<host>.<domain> (`x-homelab: { route: … }` on the service). */
export interface ServiceRoute {
  readonly service: string;
  /** One DNS label: the URL is https://<host>.<homelab:domain>. */
  readonly host: string;
  /** The port the service's tasks listen on (Traefik reaches task addresses, never the VIP). */
  readonly port: number;
  readonly lane: RouteLane;
  /** Behind the platform's login (the Traefik dashboard's basic auth), for a service with no login of its own (`auth: true`). */
  readonly auth?: true;
}

export interface StackSecret {
  /** The compose top-level `secrets:` key (what services name in their own `secrets:`), e.g. `db_password`. */
  readonly key: string;
  readonly source: SecretSource;
}

export interface StackConfig {
  /** The compose top-level `configs:` key, e.g. `index_txt`. */
  readonly key: string;
  /**
   * The content the Swarm config gets: the file's text, or the inline `content:`. Never a secret
   * (configs are readable by anyone with Docker access). Empty for a platform config until
   * config/stacks.ts fills it in.
   */
  readonly content: string;
  /** Rendered by the platform (`x-homelab: { platform: … }`) rather than read from the repository. */
  readonly platform?: PlatformConfigFile;
  /** The file it was read from, joined to the compose file's folder (e.g. `stacks/whoami/index.txt`); absent for an inline `content:`. */
  readonly file?: string;
}

/** A port published through Swarm's ingress routing mesh (IPVS: missing in the lab, see DESIGN.md). */
export interface IngressPort {
  readonly service: string;
  /** As written, e.g. `8080:80` or `{published: 8080, target: 80}` rendered as `8080:80/tcp`. */
  readonly spec: string;
}

/** A service's memory, in bytes, as Docker parses it (`memoryBytes`). */
export interface ServiceMemory {
  readonly limit: number;
  readonly reservation: number;
}

export interface StackSource {
  /** The folder name under `stacks/`, also the `docker stack deploy` name (e.g. `whoami`). */
  readonly name: string;
  /** Path of the compose file, as given (used in every error message). */
  readonly file: string;
  /** The parsed compose document (plain JS, aliases and merge keys resolved), kept for `renderStack`. */
  readonly document: Readonly<Record<string, unknown>>;
  /** Service names, in file order. */
  readonly services: readonly string[];
  readonly secrets: readonly StackSecret[];
  readonly configs: readonly StackConfig[];
  /** Swarm names of the top-level networks with `external: true` (`name:` if given, else the key): the platform must create them before the stack. */
  readonly externalNetworks: readonly string[];
  /** Ingress-published ports (allowed; listed so the platform can warn where there is no routing mesh). parseStack always sets it. */
  readonly ingressPorts?: readonly IngressPort[];
  /** Services reached through Traefik, in file order. parseStack always sets it. */
  readonly routes?: readonly ServiceRoute[];
  /** Per service, its memory limit and reservation in bytes (for the "fits in 75% of a node" check). parseStack always sets it. */
  readonly memory?: Readonly<Record<string, ServiceMemory>>;
  /**
   * Its just-in-time services (homelab:platform.jit), in order: they keep the replicas the swarm
   * has on every deploy, and their routes are served through the JIT helper (compose/jit.ts).
   */
  readonly jitServices?: readonly string[];
  /** For the JIT helper's stack: the JIT hosts its service answers, each to the helper's port (compose/jit.ts). */
  readonly proxiedRoutes?: readonly ServiceRoute[];
  /** Images the platform makes before the deploy, on the one node the service is pinned to (no registry is assumed). */
  readonly builds?: readonly ImageToBuild[];
}

export interface ImageToBuild {
  readonly service: string;
  /** The tag the service runs, with a hash of the Dockerfile in it. */
  readonly image: string;
  readonly dockerfile: string;
  /** The node (homelab:nodes[].name) it is made on: the one the service's placement allows. */
  readonly node: string;
}

/** One problem in a compose file: where (`services.web.image`) and what, with the fix. */
export interface StackIssue {
  readonly key: string;
  readonly message: string;
}

/**
 * Every problem found in one compose file, reported at once and before anything is deployed. Each
 * line names the file and the key, e.g.
 * `stacks/monitoring/compose.yml: services.prometheus.image: "prom/prometheus" has no version tag. Fix: …`.
 */
export class StackError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly StackIssue[],
  ) {
    super(
      `${file}: ${issues.length} problem${issues.length === 1 ? "" : "s"}; nothing was deployed:\n` +
        issues.map((i) => `  - ${file}: ${i.key ? `${i.key}: ` : ""}${i.message}`).join("\n"),
    );
    this.name = "StackError";
  }
}
