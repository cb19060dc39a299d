/**
 * homelab: one stack config → Ignition for every node → a Docker Swarm over SSH.
 * The config is validated before anything is registered; a bad key stops the run with its fix.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Homelab } from "./components/homelab";
import { BACKUP_CONFIG_SECRETS } from "./compose/backupAgent";
import { readLastRun } from "./components/lastRun";
import { loadPulumiConfig, loadPulumiStacks } from "./config/pulumi";

const { config } = loadPulumiConfig();
const stacks = loadPulumiStacks(config, path.join(__dirname, "stacks"));
const stack = pulumi.getStack();
// Not out/<stack>/: that is where `npm run render` and the lab write their own copies.
// The last run's outputs: the leader stays put while healthy, a lost swarm is noticed and formed
// again, and a node that is off keeps the incarnation it had (components/lastRun.ts).
const homelab = new Homelab("homelab", {
  config,
  ignitionDir: `out/stacks/${stack}/ignition`,
  caCertificateFile: `out/stacks/${stack}/homelab-ca.crt`,
  previous: readLastRun(),
  stacks,
  dashboardPassword: new pulumi.Config("homelab").getSecret("traefikDashboardPassword"),
  ntfyTopic: new pulumi.Config("homelab").getSecret("ntfyTopic"),
  backupPassword: new pulumi.Config("homelab").getSecret(BACKUP_CONFIG_SECRETS.password),
});

/** For the operator: what runs where, and how to get in. */
export const nodes = homelab.nodes;
export const ignitionFiles = Object.fromEntries(Object.entries(homelab.nodes).map(([name, n]) => [name, n.ignitionPath]));
export const sshCommands = Object.fromEntries(Object.entries(homelab.nodes).map(([name, n]) => [name, n.sshCommand]));
export const deployPublicKey = homelab.deployPublicKey;
/** For the swarm: which manager drives it, and tokens for adding a node by hand (secret, rotated after every join). */
export const swarmLeader = homelab.swarm.leader;
export const swarmClusterId = homelab.swarm.clusterId;
export const joinTokens = homelab.swarm.joinTokens;
/** Read back by the next run (components/lastRun.ts LAST_RUN_OUTPUTS). */
export const swarmReformedAfter = homelab.swarm.reformedAfter;
export const swarmMembers = homelab.swarm.members;
export const stackRetries = homelab.platform.stackRetries;
/** The stacks on the swarm and their services. */
export const stacksDeployed = homelab.platform.stacks;
/** Stacks with named volumes: the GitOps runner holds a commit that would remove one. */
export const statefulStacks = homelab.platform.statefulStacks;
/** The homelab CA: trust it on your devices (also written to caCertificateFile). */
export const caCertificate = homelab.platform.tls.caCertificatePem;
export const caCertificateFile = homelab.platform.tls.caCertificatePath;
/** Where each routed service answers (the internal lane; its DNS name points at the managers Traefik runs on). */
export const urls = homelab.platform.urls;
/** The Traefik dashboard (urls["traefik/dashboard"]): user admin, this password (`pulumi stack output --show-secrets`). */
export const traefikDashboardPassword = homelab.platform.dashboardPassword;
/** AdGuard Home's web UI (urls["dns/adguard"]): user admin, this password. */
export const dnsAdminPassword = homelab.platform.dnsAdminPassword;
/** Alertmanager posts to <platform.monitoring.ntfy.server>/<this topic>: subscribe to it in the ntfy app. */
export const ntfyTopic = homelab.platform.ntfyTopic;
/**
 * The restic password of the backups (homelab:backupPassword, or generated). Keep a copy off the
 * cluster, with the repository's address: without it no snapshot can be read.
 */
export const backupPassword = homelab.platform.backupPassword;
/** Values Pulumi generated for the stacks' secrets, by `<stack>/<key>`: Grafana's admin password (monitoring/grafana_admin_password), the apps' admin tokens. */
export const generatedSecrets = homelab.platform.generatedSecrets;
