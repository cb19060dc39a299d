import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PlatformSecret, StackSource } from "../compose/types";
import { PlatformConfig } from "../config/schema";
import { DnsSettings, renderAdGuardConfig } from "../routing/dns";
import { RoutedHost } from "../routing/hosts";
import { htpasswdLine } from "../routing/htpasswd";
import { renderAlertmanagerConfig } from "../monitoring/alertmanager";
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
    const alerting = args.stacks.some((s) => s.secrets.some((secret) => secret.source.kind === "platform" && secret.source.name === "alertmanager-config"));
    this.ntfyTopic = pulumi.secret(
      args.ntfyTopic ?? (alerting ? new random.RandomPassword(`${name}-ntfy-topic`, { length: 32, special: false }, { parent: this }).result : pulumi.output("")),
    );
    const alertmanagerConfig = pulumi.secret(
      this.ntfyTopic.apply((ntfyTopic) => renderAlertmanagerConfig({ ntfyServer: args.platform.monitoring.ntfyServer, ntfyTopic })),
    );
    const generated: Record<string, pulumi.Output<string>> = {};
    const retries: Record<string, pulumi.Output<number>> = {};
    this.stacks = Object.fromEntries(
      args.stacks.map((source) => {
        const fromPlatform: Record<PlatformSecret, pulumi.Output<string>> = {
          "tls-key": this.tls.privateKeyPem,
          "tls-certificate": this.tls.certificatePem,
          "ca-certificate": this.tls.caCertificatePem,
          "traefik-dashboard-users": dashboardUsers,
          "adguard-config": adguardConfig,
          "alertmanager-config": alertmanagerConfig,
        };
        const secretValues = Object.fromEntries(
          source.secrets.map((s) => {
            switch (s.source.kind) {
              case "random": {
                const value = pulumi.secret(new random.RandomPassword(`${name}-${source.name}-${s.key}`, { length: s.source.length, special: false }, { parent: this }).result);
                generated[`${source.name}/${s.key}`] = value;
                return [s.key, value];
              }
              case "config":
                return [s.key, args.configSecret(s.source.key)];
              case "platform":
                return [s.key, fromPlatform[s.source.name]];
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
    this.registerOutputs({ stacks: this.stacks, caCertificatePem: this.tls.caCertificatePem, urls: this.urls, dashboardPassword: this.dashboardPassword, dnsAdminPassword: this.dnsAdminPassword, ntfyTopic: this.ntfyTopic, generatedSecrets: this.generatedSecrets });
  }
}
