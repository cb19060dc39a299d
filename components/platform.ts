import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ImageToBuild, PlatformSecret, StackSource } from "../compose/types";
import { PlatformConfig } from "../config/schema";
import { DnsSettings, renderAdGuardConfig } from "../routing/dns";
import { RoutedHost } from "../routing/hosts";
import { htpasswdLine } from "../routing/htpasswd";
import { renderAlertmanagerConfig } from "../monitoring/alertmanager";
import { BACKUP_CONFIG_SECRETS, renderS3Credentials, repositoryKind } from "../compose/backupAgent";
import { GITOPS_CONFIG_SECRETS } from "../compose/gitops";
import { NodeConnection } from "./connection";
import { SharedNetworks } from "./networks";
import { Stack } from "./stack";
import { HomelabTls } from "./tls";

export interface PlatformArgs {
  readonly platform: PlatformConfig;
  /** The homelab's DNS domain (the wildcard certificate's). */
  readonly domain: string;
  /** Where the CA certificate is written for the owner (relative to the project). */
  readonly caCertificateFile: string;
  /** The stacks to deploy, loaded and checked against the config before anything was registered. */
  readonly stacks: readonly StackSource[];
  /** A manager of the swarm (Swarm.leaderConnection: resolves once the swarm is formed). */
  readonly connection: pulumi.Output<NodeConnection>;
  /** The swarm's ID (Swarm.clusterId): what lives in the swarm is made again in a swarm formed anew. */
  readonly swarmId: pulumi.Output<string>;
  /** A secret from the stack config (`pulumi config set --secret homelab:KEY …`), checked to exist. */
  readonly configSecret: (key: string) => pulumi.Output<string>;
  /** Every host Traefik answers for (routing/hosts.ts). */
  readonly routedHosts: readonly RoutedHost[];
  /** AdGuard Home's upstreams and the addresses routed hosts resolve to (the managers). */
  readonly dns: DnsSettings;
  /** The owner's Traefik dashboard password (`pulumi config set --secret homelab:traefikDashboardPassword`); absent: generated. */
  readonly dashboardPassword?: pulumi.Output<string>;
  /** The owner's ntfy topic (`pulumi config set --secret homelab:ntfyTopic`); absent: generated. */
  readonly ntfyTopic?: pulumi.Output<string>;
  /** The owner's restic password (`pulumi config set --secret homelab:backupPassword`); absent: generated. */
  readonly backupPassword?: pulumi.Output<string>;
  /** Makes an image on its node before its stack deploys (components/builtImage.ts); needed when a stack has `builds`. */
  readonly buildImage?: (build: ImageToBuild, parent: pulumi.Resource) => pulumi.Output<string>;
  /** Per stack, how often its deploy was refused in a row (the last run's `stackRetries` output). */
  readonly stackRetries?: pulumi.Input<Readonly<Record<string, number>>>;
}

/** The Traefik dashboard's user (its password is the owner's or made here; a secret output). */
export const DASHBOARD_USER = "admin";

/**
 * What runs on the swarm: the shared networks first, then each stack on its own (one resource
 * per stack, so one that fails does not take the others' changes with it). Everything is driven
 * through a manager's SSH connection and keyed on names and content, never on which manager: a
 * new leader re-runs idempotent steps and recreates nothing.
 */
export class Platform extends pulumi.ComponentResource {
  /** Stack name → its services as deployed. */
  public readonly stacks: Record<string, pulumi.Output<string[]>>;
  /** The stacks that keep data in named volumes: the GitOps gate never removes one by itself. */
  public readonly statefulStacks: string[];
  /** Stack name → the retry count the next run reads (components/stack.ts). */
  public readonly stackRetries: Record<string, pulumi.Output<number>>;
  /** The homelab CA and the wildcard certificate. */
  public readonly tls: HomelabTls;
  /** `<stack>/<service>` → its URL, for every routed service (and the Traefik dashboard). */
  public readonly urls: Record<string, string>;
  /** The Traefik dashboard's password for DASHBOARD_USER (a secret). */
  public readonly dashboardPassword: pulumi.Output<string>;
  /** AdGuard Home's web UI password for its admin user (routing/dns.ts DNS_ADMIN_USER; a secret). */
  public readonly dnsAdminPassword: pulumi.Output<string>;
  /** The ntfy topic alerts go to (a secret: whoever knows it reads them); empty when no stack sends alerts. */
  public readonly ntfyTopic: pulumi.Output<string>;
  /**
   * The restic password of the backups (a secret; empty when nothing is backed up). Keep a copy off
   * the cluster: without it no snapshot can be read, and a rebuild from scratch restores nothing.
   */
  public readonly backupPassword: pulumi.Output<string>;
  /** `<stack>/<key>` → the value Pulumi generated for it (`x-homelab: { generate: … }`): admin passwords and the like (secrets). */
  public readonly generatedSecrets: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:platform:Platform", name, {}, opts);
    this.tls = new HomelabTls(`${name}-tls`, { domain: args.domain, caCertificateFile: args.caCertificateFile }, { parent: this });
    const networks = new SharedNetworks(`${name}-networks`, { networks: args.platform.networks, connection: args.connection, swarmId: args.swarmId }, { parent: this });
    // Keys the fingerprints in secret names (see Stack); made once, kept in state as a secret.
    const nameSalt = new random.RandomPassword(`${name}-object-name-salt`, { length: 32, special: false }, { parent: this }).result;
    // Traefik reads an htpasswd line from a Swarm secret; both hashes are stable across runs.
    let dashboardUsers: pulumi.Output<string>;
    if (args.dashboardPassword) {
      this.dashboardPassword = pulumi.secret(args.dashboardPassword);
      dashboardUsers = pulumi.secret(pulumi.all([args.dashboardPassword, nameSalt]).apply(([password, salt]) => htpasswdLine(DASHBOARD_USER, password, salt)));
    } else {
      const dashboard = new random.RandomPassword(`${name}-traefik-dashboard-password`, { length: 24, special: false }, { parent: this });
      this.dashboardPassword = pulumi.secret(dashboard.result);
      dashboardUsers = pulumi.secret(pulumi.interpolate`${DASHBOARD_USER}:${dashboard.bcryptHash}\n`);
    }
    const dnsAdmin = new random.RandomPassword(`${name}-dns-admin-password`, { length: 24, special: false }, { parent: this });
    this.dnsAdminPassword = pulumi.secret(dnsAdmin.result);
    const adguardConfig = pulumi.secret(dnsAdmin.bcryptHash.apply((hash) => renderAdGuardConfig(args.dns, args.routedHosts, hash)));
    // Made only where a stack sends alerts (monitoring): ntfy topics are [-_A-Za-z0-9]{1,64}, and
    // 32 letters and digits cannot be guessed.
    // The GitOps runner reports to the same topic.
    const alerting = args.stacks.some((s) => s.secrets.some((secret) => secret.source.kind === "platform" && (secret.source.name === "alertmanager-config" || secret.source.name === "ntfy-topic")));
    this.ntfyTopic = pulumi.secret(
      args.ntfyTopic ?? (alerting ? new random.RandomPassword(`${name}-ntfy-topic`, { length: 32, special: false }, { parent: this }).result : pulumi.output("")),
    );
    const alertmanagerConfig = pulumi.secret(
      this.ntfyTopic.apply((ntfyTopic) => renderAlertmanagerConfig({ ntfyServer: args.platform.monitoring.ntfyServer, ntfyTopic })),
    );
    // Every generated value first: one stack's secret may be made from another's (the backup agent
    // gets the JIT helper's token and MinIO's keys).
    const generated: Record<string, pulumi.Output<string>> = {};
    for (const source of args.stacks) {
      for (const s of source.secrets) {
        if (s.source.kind !== "random") continue;
        generated[`${source.name}/${s.key}`] = pulumi.secret(new random.RandomPassword(`${name}-${source.name}-${s.key}`, { length: s.source.length, special: false }, { parent: this }).result);
      }
    }
    const usesPlatformSecret = (wanted: PlatformSecret) => args.stacks.some((s) => s.secrets.some((secret) => secret.source.kind === "platform" && secret.source.name === wanted));
    this.backupPassword = pulumi.secret(
      args.backupPassword ??
        (usesPlatformSecret("backup-password") ? new random.RandomPassword(`${name}-backup-password`, { length: 40, special: false }, { parent: this }).result : pulumi.output("")),
    );
    const backup = args.platform.backup;
    const generatedOf = (key: string) => {
      const value = generated[key];
      if (!value) throw new Error(`no generated secret ${key}: the stack that makes it is not deployed`);
      return value;
    };
    // Only what some stack mounts is computed: a missing source is a bug, not a config error (config/stacks.ts checked the config).
    const platformSecret = (wanted: PlatformSecret): pulumi.Output<string> => {
      switch (wanted) {
        case "tls-key":
          return this.tls.privateKeyPem;
        case "tls-certificate":
          return this.tls.certificatePem;
        case "ca-certificate":
          return this.tls.caCertificatePem;
        case "traefik-dashboard-users":
          return dashboardUsers;
        case "adguard-config":
          return adguardConfig;
        case "alertmanager-config":
          return alertmanagerConfig;
        case "backup-password":
          return this.backupPassword;
        case "backup-ssh-key":
          // `pulumi config set --secret KEY < file` drops the file's last newline, without which
          // OpenSSH cannot load the key ("error in libcrypto").
          return pulumi.secret(args.configSecret(BACKUP_CONFIG_SECRETS.sshKey).apply((key) => `${key.trimEnd()}\n`));
        case "backup-known-hosts":
          return pulumi.output(backup === false ? "" : backup.knownHosts.map((line) => `${line}\n`).join(""));
        case "jit-token":
          return generatedOf("jit/jit_token");
        case "backup-credentials": {
          if (backup === false) throw new Error("backup credentials asked for with backups off");
          const [id, key] =
            repositoryKind(backup.repository) === "minio"
              ? [generatedOf("minio/root_user"), generatedOf("minio/root_password")]
              : [args.configSecret(BACKUP_CONFIG_SECRETS.s3AccessKeyId), args.configSecret(BACKUP_CONFIG_SECRETS.s3SecretAccessKey)];
          return pulumi.secret(pulumi.all([id, key]).apply(([i, k]) => renderS3Credentials(i, k)));
        }
        case "gitops-backend-credentials": {
          const [id, key] = [args.configSecret(GITOPS_CONFIG_SECRETS.backendAccessKeyId), args.configSecret(GITOPS_CONFIG_SECRETS.backendSecretAccessKey)];
          return pulumi.secret(pulumi.all([id, key]).apply(([i, k]) => renderS3Credentials(i, k)));
        }
        case "ntfy-topic":
          return this.ntfyTopic;
      }
    };
    const retries: Record<string, pulumi.Output<number>> = {};
    this.stacks = Object.fromEntries(
      args.stacks.map((source) => {
        const secretValues = Object.fromEntries(
          source.secrets.map((s) => {
            switch (s.source.kind) {
              case "random":
                return [s.key, generatedOf(`${source.name}/${s.key}`)];
              case "config":
                return [s.key, args.configSecret(s.source.key)];
              case "platform":
                return [s.key, platformSecret(s.source.name)];
            }
          }),
        );
        const stack = new Stack(
          `${name}-${source.name}`,
          {
            source,
            connection: args.connection,
            secretValues,
            nameSalt,
            networks: source.externalNetworks.map((n) => networks.byName[n]),
            swarmId: args.swarmId,
            domain: args.domain,
            retries: pulumi.output(args.stackRetries ?? {}).apply((r) => r[source.name] ?? 0),
            before: (source.builds ?? []).map((build) => {
              if (!args.buildImage) throw new Error(`stack ${source.name} has an image to build, but the platform was given no builder (a bug)`);
              return args.buildImage(build, this);
            }),
          },
          { parent: this },
        );
        retries[source.name] = stack.retries;
        return [source.name, stack.services];
      }),
    );
    this.stackRetries = retries;
    this.generatedSecrets = generated;
    this.urls = Object.fromEntries(args.routedHosts.map((h) => [h.target, h.url]));
    this.statefulStacks = args.stacks.filter((s) => Object.keys((s.document.volumes as Record<string, unknown> | undefined) ?? {}).length > 0).map((s) => s.name);
    this.registerOutputs({ stacks: this.stacks, statefulStacks: this.statefulStacks, caCertificatePem: this.tls.caCertificatePem, urls: this.urls, dashboardPassword: this.dashboardPassword, dnsAdminPassword: this.dnsAdminPassword, ntfyTopic: this.ntfyTopic, backupPassword: this.backupPassword, generatedSecrets: this.generatedSecrets });
  }
}
