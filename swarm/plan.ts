import { Role } from "../config/schema";

/** What probe.sh saw on a node; `reachable: false` when SSH did not answer (not booted yet, or down). */
export interface NodeProbe {
  readonly reachable: boolean;
  readonly machineId?: string;
  readonly swarmState?: string;
  readonly isManager?: boolean;
  readonly clusterId?: string;
}

/** probe.sh's key=value output (already parsed) as a NodeProbe of a node that answered. */
export function probeFromKeyValues(kv: Readonly<Record<string, string>>): NodeProbe {
  return {
    reachable: true,
    machineId: kv.machine_id,
    swarmState: kv.swarm_state,
    isManager: kv.is_manager === "true",
    clusterId: kv.cluster_id || undefined,
  };
}

export interface PlannedNode {
  readonly name: string;
  readonly role: Role;
  readonly address: string;
}

export interface SwarmPlan {
  /** The manager that bootstraps (runs init.sh) and from which every other step is driven. */
  readonly leader: string;
  /** True when no configured manager is in a swarm yet, so init.sh will start a new one. */
  readonly newSwarm: boolean;
  /** The swarm the cluster is in, when known. */
  readonly clusterId?: string;
}

/**
 * Chooses the leader: the previous leader while it still manages the swarm (so the steps driven
 * from it do not move, and re-run, each time another manager comes back), else the first manager
 * (config order) that manages a swarm, else the first manager. Choosing by membership, not by
 * name, is what makes a rebuilt manager-1 rejoin the existing swarm instead of starting a second
 * one (the seed's bug).
 * @throws Error when managers are in different swarms: joining them would lose one cluster's state.
 */
export function planSwarm(
  nodes: readonly PlannedNode[],
  probes: Readonly<Record<string, NodeProbe>>,
  previousLeader?: string,
): SwarmPlan {
  const managers = nodes.filter((n) => n.role === "manager");
  if (managers.length === 0) throw new Error("no managers in the config");
  const active = managers.filter((m) => probes[m.name]?.isManager === true && probes[m.name]?.swarmState === "active");
  const clusters = [...new Set(active.map((m) => probes[m.name].clusterId ?? ""))];
  if (clusters.length > 1) {
    const detail = active.map((m) => `${m.name} in ${probes[m.name].clusterId}`).join(", ");
    throw new Error(
      `managers are in different swarms (${detail}). Fix: decide which swarm to keep, run 'docker swarm leave --force' on the managers of the other, then run again.`,
    );
  }
  if (active.length > 0) {
    const sticky = active.find((m) => m.name === previousLeader) ?? active[0];
    return { leader: sticky.name, newSwarm: false, clusterId: clusters[0] };
  }
  return { leader: managers[0].name, newSwarm: true };
}

/** What the stack's last run reported, read back from its own outputs. */
export interface PreviousRun {
  readonly leader?: string;
  readonly clusterId?: string;
  readonly reformedAfter?: string;
}

/**
 * The swarm's "epoch" for the step triggers: empty while the swarm this stack formed lives on; the
 * ID of the lost swarm once no manager is in a swarm although the last run formed one (every node
 * reflashed, or left by hand, or a failed run undid it). Changing it re-runs init, token reads and
 * every join exactly once; it is read back from the last run, so it stays put afterwards.
 */
export function reformedAfter(plan: SwarmPlan, previous: PreviousRun): string {
  if (plan.newSwarm && previous.clusterId) return previous.clusterId;
  return previous.reformedAfter ?? "";
}
