import * as fs from "fs";
import * as path from "path";
import { overcommitted, reservationsByNode } from "../compose/budget";
import { loadStack } from "../compose/load";
import { eligibleNodes, placementProblems } from "../compose/placement";
import { backupPlan } from "../compose/backup";
import { BACKUP_CONFIG_SECRETS, BACKUP_STACK, renderBackupConfig, renderBackupSocketFilter, repositoryKind, requiredConfigSecrets, withBackupSecrets } from "../compose/backupAgent";
import { GITOPS_CONFIG_SECRETS, GITOPS_LABEL, GITOPS_SERVICE, GITOPS_STACK, renderRunnerConfig, runnerImageTag, withRunnerSettings } from "../compose/gitops";
import { bundleRunner } from "../gitops/bundle";
import { JIT_STACK, jitBudgets, jitTargets, proxiedRoutes, renderJitConfig, renderJitSocketFilter } from "../compose/jit";
import { parseDurationSeconds } from "./duration";
import { MONITORING_STACK, retentionProblems, withRetention } from "../monitoring/prometheus";
import { PlatformConfigFile, StackError, StackSource } from "../compose/types";
import { RoutingConfig, routedHosts, traefikSettings } from "../routing/hosts";
import { acmeSecretKey, withAcme } from "../routing/acme";
import { renderTraefikDynamic, renderTraefikStatic } from "../routing/traefik";
import { ConfigError, ConfigIssue } from "./reader";
import { NodeConfig } from "./schema";

/** Top-level keys of the homelab: namespace (config/validate.ts): never a stack's secret. */
const SETTINGS = ["domain", "arch", "network", "ssh", "updates", "snippets", "nodes", "platform"];

/** What loadStacks reads of the config. */
export type StacksConfig = RoutingConfig & { readonly nodes: readonly NodeConfig[] };

/** The files the platform renders for stacks (`x-homelab: { platform: … }` configs), from the config. */
type RenderedElsewhere = Exclude<PlatformConfigFile, "traefik-static" | "traefik-dynamic">;
function platformFiles(config: StacksConfig, rendered: Record<RenderedElsewhere, string>): Record<PlatformConfigFile, string> {
  const settings = traefikSettings(config);
  return { "traefik-static": renderTraefikStatic(settings), "traefik-dynamic": renderTraefikDynamic(settings), ...rendered };
}

/** The runner's image: the compose file's tag with the hash of the Dockerfile next to it (compose/gitops.ts), made on the runner's node. */
function gitopsImage(stack: StackSource, nodes: readonly NodeConfig[]): { image: string; dockerfile: string; node: string } {
  const service = (stack.document.services as Record<string, Record<string, any>>)[GITOPS_SERVICE];
  const dockerfile = fs.readFileSync(path.join(path.dirname(stack.file), "Dockerfile"), "utf8");
  // placementProblems made sure exactly one node is eligible.
  return { image: runnerImageTag(String(service.image), dockerfile), dockerfile, node: eligibleNodes(service, nodes)[0].name };
}

/** Loads a stack's folder, turning its problems into config issues; undefined when it cannot be read. */
function loadChecked(stacksDir: string, name: string, issues: ConfigIssue[]): StackSource | undefined {
  try {
    return loadStack(path.join(stacksDir, name));
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    for (const issue of err.issues) issues.push({ key: [path.relative(path.dirname(stacksDir), err.file), issue.key].filter((k) => k !== "").join(": "), message: issue.message });
    return undefined;
  }
}

/**
 * The stacks to load: those listed, the JIT helper's when a listed stack has a just-in-time
 * service, and the GitOps runner's when homelab:platform.gitops is set.
 */
export function stacksToLoad(platform: StacksConfig["platform"]): string[] {
  const needsJit = platform.jit.some((j) => platform.stacks.includes(j.service.split("/")[0]));
  const names = needsJit && !platform.stacks.includes(JIT_STACK) ? [...platform.stacks, JIT_STACK] : [...platform.stacks];
  return platform.gitops !== false && !names.includes(GITOPS_STACK) ? [...names, GITOPS_STACK] : names;
}

/** What homelab:platform.gitops needs besides its stack: its secrets set, and its label on one manager. */
function gitopsProblems(config: StacksConfig, hasConfigSecret: (key: string) => boolean): ConfigIssue[] {
  const { platform, nodes } = config;
  const issues: ConfigIssue[] = [];
  if (platform.gitops === false) {
    if (platform.stacks.includes(GITOPS_STACK)) {
      issues.push({ key: `homelab:platform.stacks[${platform.stacks.indexOf(GITOPS_STACK)}]`, message: `is the GitOps runner's stack, which homelab:platform.gitops deploys (it is not set). Fix: remove gitops from homelab:platform.stacks and set homelab:platform.gitops (docs/gitops.md).` });
    }
    return issues;
  }
  const needs: Array<[string, string]> = [
    [GITOPS_CONFIG_SECRETS.passphrase, "the passphrase of this stack's secrets, which the runner's pulumi needs"],
    [GITOPS_CONFIG_SECRETS.backendAccessKeyId, "the access key of the state bucket (homelab:platform.gitops.backend)"],
    [GITOPS_CONFIG_SECRETS.backendSecretAccessKey, "the secret key of the state bucket"],
  ];
  for (const [key, what] of needs.filter(([k]) => !hasConfigSecret(k))) {
    issues.push({ key: "homelab:platform.gitops", message: `needs homelab:${key} (${what}), which is not set. Fix: pulumi config set --secret homelab:${key} <value>` });
  }
  nodes.forEach((n, i) => {
    if (n.labels[GITOPS_LABEL] === "true" && n.role !== "manager") {
      issues.push({ key: `homelab:nodes[${i}].labels.${GITOPS_LABEL}`, message: `puts the GitOps runner on ${n.name}, a worker; it runs on a manager. Fix: move the label to a manager: pulumi config rm --path 'homelab:nodes[${i}].labels.${GITOPS_LABEL}' and pulumi config set --path 'homelab:nodes[<a manager>].labels.${GITOPS_LABEL}' true` });
    }
  });
  return issues;
}

/**
 * Loads the stacks homelab:platform.stacks lists from stacksDir and checks them against the config,
 * before anything is registered: a missing folder, a broken compose file, an external network no
 * one creates (the seed's fresh installs stopped there), a secret whose config key is not set, two
 * services routed at one host, a node whose always-on services would reserve more than 75% of its
 * RAM (compose/budget.ts). Configs the platform renders get their content here.
 * @param hasConfigSecret whether `homelab:KEY` is set in the stack config.
 * @param pulumiStack the Pulumi stack being run: the one the GitOps runner applies.
 * @throws ConfigError listing every problem with its fix.
 */
export function loadStacks(config: StacksConfig, stacksDir: string, hasConfigSecret: (key: string) => boolean, pulumiStack = "homelab"): StackSource[] {
  const { platform, nodes } = config;
  const issues: ConfigIssue[] = [];
  const networks = new Set(platform.networks.map((n) => n.name));
  const stacks = stacksToLoad(platform).flatMap((name, i) => {
    const dir = path.join(stacksDir, name);
    if (!fs.existsSync(dir)) {
      const known = fs.existsSync(stacksDir) ? fs.readdirSync(stacksDir).filter((f) => fs.statSync(path.join(stacksDir, f)).isDirectory()) : [];
      issues.push({ key: `homelab:platform.stacks[${i}]`, message: `there is no folder stacks/${name}. Fix: use one of ${known.join(", ") || "(none yet)"}, or add the folder.` });
      return [];
    }
    const stack = loadChecked(stacksDir, name, issues);
    return stack ? [stack] : [];
  });
  issues.push(...gitopsProblems(config, hasConfigSecret));
  // Backups: the plan comes from the stacks as loaded; the agent's stack joins them when there is a
  // volume to back up, before the checks (its memory counts on the managers).
  const backup = platform.backup;
  const planned = backup === false ? undefined : backupPlan(stacks, nodes, platform);
  // MinIO is not backed up into itself: stopping it would stop the repository.
  const plan = planned && backup !== false && repositoryKind(backup.repository) === "minio" ? { ...planned, volumes: planned.volumes.filter((v) => v.stack !== "minio") } : planned;
  if (backup !== false && plan && (plan.volumes.length > 0 || platform.stacks.includes(BACKUP_STACK))) {
    if (repositoryKind(backup.repository) === "minio" && !platform.stacks.includes("minio")) {
      issues.push({ key: "homelab:platform.backup.repository", message: `is the cluster's MinIO (the default), but stacks/minio is not deployed. Fix: add minio to homelab:platform.stacks, or set homelab:platform.backup.repository to a restic repository (s3:, sftp: or rest:), or set homelab:platform.backup to false.` });
    }
    for (const key of requiredConfigSecrets(backup.repository).filter((k) => !hasConfigSecret(k))) {
      const how = key === BACKUP_CONFIG_SECRETS.sshKey ? `pulumi config set --secret homelab:${key} < path/to/private_key (a key the SFTP server accepts for the repository's user)` : `pulumi config set --secret homelab:${key} <value>`;
      issues.push({ key: "homelab:platform.backup.repository", message: `${backup.repository} needs homelab:${key}, which is not set. Fix: ${how}.` });
    }
    if (!platform.stacks.includes(BACKUP_STACK)) {
      const agent = loadChecked(stacksDir, BACKUP_STACK, issues);
      if (agent) stacks.push(agent);
    }
  }
  for (const [env, key] of Object.entries(platform.traefik.acme?.credentials ?? {})) {
    if (!hasConfigSecret(key)) {
      issues.push({ key: `homelab:platform.traefik.acme.credentials.${env}`, message: `needs homelab:${key}, which is not set. Fix: pulumi config set --secret homelab:${key} <value> (Traefik reads it as ${env}_FILE from the Swarm secret ${acmeSecretKey(env)})` });
    }
  }
  for (const stack of stacks) {
    const file = path.relative(path.dirname(stacksDir), stack.file);
    const stackProblems = [...placementProblems(stack, nodes), ...(stack.name === MONITORING_STACK ? retentionProblems(stack) : [])];
    for (const problem of stackProblems) issues.push({ key: `${file}: ${problem.key}`, message: problem.message });
    for (const network of stack.externalNetworks) {
      if (!networks.has(network)) {
        issues.push({ key: `${file}: networks.${network}`, message: `is external, but homelab:platform.networks does not create it. Fix: add {name: ${network}} to homelab:platform.networks.` });
      }
    }
    for (const secret of stack.secrets) {
      if (secret.source.kind === "config" && SETTINGS.includes(secret.source.key)) {
        issues.push({ key: `${file}: secrets.${secret.key}`, message: `reads homelab:${secret.source.key}, which is a setting of homelab itself, not a secret. Fix: name another key, e.g. ${stack.name}${secret.key.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase())}.` });
      } else if (secret.source.kind === "config" && !hasConfigSecret(secret.source.key)) {
        issues.push({ key: `${file}: secrets.${secret.key}`, message: `needs homelab:${secret.source.key}, which is not set. Fix: pulumi config set --secret homelab:${secret.source.key} <value>` });
      }
    }
  }
  for (const routed of routedHosts(config, stacks).filter((r) => r.lane === "public" && !platform.traefik.publicLane)) {
    issues.push({ key: `stacks/${routed.target.split("/")[0]}: services.${routed.target.split("/")[1].split("@")[0]}.x-homelab.route.lane`, message: `is public, but the public lane is off. Fix: pulumi config set --path homelab:platform.traefik.publicLane true (and forward the router's port 443 to port 8443 of the managers), or make the route internal.` });
  }
  const seen = new Map<string, string>();
  for (const routed of routedHosts(config, stacks)) {
    const other = seen.get(routed.host);
    if (other) issues.push({ key: `stacks/${routed.target.split("/")[0]}`, message: `routes ${routed.host} to ${routed.target}, which ${other} already answers. Fix: give one of them another x-homelab.route.host (or homelab:platform.traefik.dashboardHost).` });
    seen.set(routed.host, routed.target);
  }
  const deployed = new Map(stacks.map((s) => [s.name, s]));
  for (const jit of platform.jit) {
    const [stackName, service] = jit.service.split("/");
    const stack = deployed.get(stackName);
    if (stack && !stack.services.includes(service)) {
      issues.push({ key: `homelab:platform.jit.${jit.service}`, message: `stacks/${stackName} has no service ${service} (it has ${stack.services.join(", ")}). Fix: name one of those, or set it to false.` });
    }
  }
  const asleep = new Set(platform.jit.map((j) => j.service));
  const jit = jitTargets(stacks, platform.jit, nodes, config.domain, (idle) => parseDurationSeconds(idle) ?? 0);
  for (const problem of jit.problems) issues.push(problem);
  if (issues.length === 0) {
    for (const over of overcommitted(reservationsByNode(nodes, stacks, asleep))) {
      issues.push({ key: `homelab:nodes[${nodes.findIndex((n) => n.name === over.node)}] (${over.node})`, message: over.message });
    }
  }
  const program = path.join(stacksDir, "..", "services", "jit", "jit.js");
  if (jit.targets.length > 0 && !fs.existsSync(program)) issues.push({ key: `homelab:platform.jit`, message: `the JIT helper's program ${path.relative(path.dirname(stacksDir), program)} is missing. Fix: restore it from the repository.` });
  const withAgent = stacks.some((s) => s.name === BACKUP_STACK);
  const agentProgram = path.join(stacksDir, "..", "services", "backup", "agent.js");
  if (withAgent && !fs.existsSync(agentProgram)) issues.push({ key: `homelab:platform.backup`, message: `the backup agent's program ${path.relative(path.dirname(stacksDir), agentProgram)} is missing. Fix: restore it from the repository.` });
  const gitopsDockerfile = path.join(stacksDir, GITOPS_STACK, "Dockerfile");
  if (stacks.some((s) => s.name === GITOPS_STACK) && !fs.existsSync(gitopsDockerfile)) issues.push({ key: "homelab:platform.gitops", message: `the runner's image recipe ${path.relative(path.dirname(stacksDir), gitopsDockerfile)} is missing. Fix: restore it from the repository.` });
  // The plan's own findings (volumes split across nodes, excludes naming nothing); an unpinned service is already reported above.
  const reported = new Set(issues.map((i) => i.key));
  for (const problem of plan?.problems ?? []) if (!reported.has(problem.key)) issues.push(problem);
  if (issues.length > 0) throw new ConfigError(issues);
  const agentSettings = backup === false ? undefined : { backup, domain: config.domain, jitServices: jit.targets.map((t) => t.name) };
  const gitops = platform.gitops;
  const withToken = hasConfigSecret(GITOPS_CONFIG_SECRETS.token);
  const files = platformFiles(config, {
    "jit-config": renderJitConfig(jit.targets, jitBudgets(nodes, stacks, asleep), config.domain),
    "jit-program": jit.targets.length > 0 ? fs.readFileSync(program, "utf8") : "",
    "jit-socket-filter": renderJitSocketFilter(jit.targets.map((t) => t.swarmService)),
    "backup-config": withAgent && plan && agentSettings ? renderBackupConfig(plan, agentSettings) : "",
    "backup-program": withAgent ? fs.readFileSync(agentProgram, "utf8") : "",
    "backup-socket-filter": withAgent && plan ? renderBackupSocketFilter(plan) : "",
    "gitops-config": gitops === false ? "" : renderRunnerConfig(gitops, { stack: pulumiStack, ntfyServer: platform.monitoring.ntfyServer, withToken }),
    "gitops-program": gitops === false ? "" : bundleRunner(),
  });
  const jitByStack = new Map<string, string[]>();
  for (const t of jit.targets) {
    const [stackName, service] = t.name.split("/");
    jitByStack.set(stackName, [...(jitByStack.get(stackName) ?? []), service]);
  }
  const helperRoutes = proxiedRoutes(stacks, jit.targets);
  const acme = platform.traefik.acme;
  return stacks.map((stack) => {
    const filled = {
      ...stack,
      configs: stack.configs.map((c) => (c.platform ? { ...c, content: files[c.platform] } : c)),
      ...(jitByStack.has(stack.name) ? { jitServices: jitByStack.get(stack.name)! } : {}),
      ...(stack.name === JIT_STACK ? { proxiedRoutes: helperRoutes } : {}),
    };
    if (stack.name === "traefik" && acme) return withAcme(filled, acme);
    if (stack.name === BACKUP_STACK && plan && agentSettings) return withBackupSecrets(filled, plan, agentSettings);
    if (stack.name === MONITORING_STACK) return withRetention(filled, platform.monitoring.retention);
    if (stack.name === GITOPS_STACK) return withRunnerSettings(filled, { ...gitopsImage(stack, nodes), withToken, ownWebhookSecret: hasConfigSecret(GITOPS_CONFIG_SECRETS.webhookSecret) });
    return filled;
  });
}
