/**
 * The backup plan: which named volumes hold the stacks' data, on which node each lives, and how to
 * quiesce the services that write it, from the stacks, the nodes and homelab:platform.backup.
 * Pure: config/stacks.ts renders the backup agent's config from it (compose/backupAgent.ts), and
 * the agent (services/backup, docs/backups.md) runs one restic job per volume on that volume's node.
 *
 * Left out on purpose:
 * - volumes mounted only by global services (node-exporter, cAdvisor, Traefik's acme.json): each
 *   node has its own copy, a per-node cache or state the service rebuilds, not data to restore;
 * - bind mounts: host paths (the Docker socket, /, /sys) the node's owner manages, not the stack;
 * - volumes named in homelab:platform.backup.exclude.
 * A volume that a global service mounts as well as a replicated one is planned with the
 * replicated services only (the global one's copy on that node is not stopped).
 */
import * as path from "path";
import { GITOPS_STACK } from "./gitops";
import { ConfigIssue, isPlainObject } from "../config/reader";
import { PlatformConfig } from "../config/schema";
import { BudgetNode } from "./budget";
import { declaredVolumes, eligibleNodes, namedVolumes, placementProblems } from "./placement";
import { StackSource } from "./types";

/**
 * How the agent keeps a volume still while restic reads it: `stop` scales the always-on services
 * that mount it to 0 and back; `asleep` backs up a just-in-time service while it sleeps, held
 * asleep through the JIT helper's /api/hold, so a backup never wakes it nor finds it woken.
 */
export type Quiesce = "stop" | "asleep";

export interface BackupVolume {
  /** The stack (folder of stacks/). */
  readonly stack: string;
  /** The key under the compose file's top-level `volumes:`. */
  readonly volume: string;
  /** The volume's name on the node, as `docker stack deploy` names it: `<stack>_<volume>` (or its `name:`). */
  readonly swarmVolume: string;
  /** The one node the services that mount it are pinned to: the only node holding its data. */
  readonly node: string;
  /** Swarm names (`<stack>_<service>`) of the replicated services that mount it, sorted. */
  readonly services: readonly string[];
  /** Whether any of those services is just in time (homelab:platform.jit). */
  readonly jit: boolean;
  /** `asleep` when every one of them is just in time, else `stop`. */
  readonly quiesce: Quiesce;
}

export interface BackupPlan {
  /** In the order of homelab:platform.stacks, then of each compose file's `volumes:`. */
  readonly volumes: readonly BackupVolume[];
  /** What keeps a volume out of the plan, or an exclude entry that names no volume; each with its fix. */
  readonly problems: readonly ConfigIssue[];
}

/**
 * The name `docker stack deploy` gives a stack's volume: its `name:` if the compose file sets one,
 * the key itself for an external volume, else `<stack>_<key>`.
 */
export function swarmVolumeName(stack: StackSource, key: string): string {
  const declared = (stack.document.volumes as Record<string, unknown> | undefined)?.[key];
  if (isPlainObject(declared) && typeof declared.name === "string") return declared.name;
  if (isPlainObject(declared) && declared.external === true) return key;
  return `${stack.name}_${key}`;
}

/** The backup plan for the deployed stacks (those of platform.stacks); empty when backups are off. */
export function backupPlan(stacks: readonly StackSource[], nodes: readonly BudgetNode[], platform: Pick<PlatformConfig, "stacks" | "jit" | "backup"> & Partial<Pick<PlatformConfig, "gitops">>): BackupPlan {
  const backup = platform.backup;
  if (backup === false) return { volumes: [], problems: [] };
  const jit = new Set(platform.jit.map((j) => j.service));
  const volumes: BackupVolume[] = [];
  const problems: ConfigIssue[] = [];
  const known: string[] = [];
  // The GitOps runner's volume holds the copy of the Pulumi state (docs/gitops.md).
  const names = platform.gitops && !platform.stacks.includes(GITOPS_STACK) ? [...platform.stacks, GITOPS_STACK] : platform.stacks;
  for (const stack of names.flatMap((name) => stacks.filter((s) => s.name === name))) {
    const file = `stacks/${stack.name}/${path.basename(stack.file)}`;
    const services = (stack.document.services ?? {}) as Record<string, Record<string, any>>;
    const declared = declaredVolumes(stack);
    const unplaced = new Map(placementProblems(stack, nodes).map((p) => [p.key, p.message]));
    const reported = new Set<string>();
    for (const volume of declared) {
      const swarmVolume = swarmVolumeName(stack, volume);
      known.push(swarmVolume);
      const users = stack.services.filter((name) => services[name]?.deploy?.mode !== "global" && namedVolumes(services[name] ?? {}, declared).includes(volume));
      if (users.length === 0 || backup.exclude.includes(swarmVolume)) continue;
      const unpinned = users.filter((name) => unplaced.has(`services.${name}.deploy.placement.constraints`));
      for (const name of unpinned.filter((n) => !reported.has(n))) {
        const key = `services.${name}.deploy.placement.constraints`;
        problems.push({ key: `${file}: ${key}`, message: `${unplaced.get(key)} Until then its data is not backed up.` });
        reported.add(name);
      }
      if (unpinned.length > 0) continue;
      const onNode = users.map((name) => ({ service: `${stack.name}_${name}`, node: eligibleNodes(services[name], nodes)[0].name }));
      const node = onNode[0].node;
      if (onNode.some((u) => u.node !== node)) {
        problems.push({
          key: `${file}: volumes.${volume}`,
          message: `${swarmVolume} is mounted by services pinned to different nodes (${onNode.map((u) => `${u.service} on ${u.node}`).join(", ")}): each node has a volume of its own by that name, so no one copy holds the data. Fix: pin every service that mounts it with the same node label, e.g. node.labels.${stack.name} == true.`,
        });
        continue;
      }
      const isJit = users.map((name) => jit.has(`${stack.name}/${name}`));
      volumes.push({
        stack: stack.name,
        volume,
        swarmVolume,
        node,
        services: onNode.map((u) => u.service).sort(),
        jit: isJit.some(Boolean),
        quiesce: isJit.every(Boolean) ? "asleep" : "stop",
      });
    }
  }
  backup.exclude.forEach((entry, i) => {
    if (!known.includes(entry)) {
      problems.push({ key: `homelab:platform.backup.exclude[${i}]`, message: `"${entry}" names no volume of the deployed stacks (homelab:platform.stacks). Fix: name one of ${known.join(", ") || "(none)"}, or remove the entry.` });
    }
  });
  return { volumes, problems };
}
