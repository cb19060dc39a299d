import { Availability, Role } from "../config/schema";

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
  readonly labels?: Readonly<Record<string, string>>;
  readonly availability?: Availability;
}

/**
 * Which incarnation of a node the swarm steps are keyed on: its disk (machine ID) and the swarm
 * epoch it joined in. A new value replaces the node's join (it was reflashed, or the swarm was
 * formed anew); an unchanged one leaves every step of the node as it is.
 */
export interface MemberRecord {
  readonly machineId: string;
  readonly epoch: string;
}

/** What the stack's last run reported, read back from its own outputs. */
export interface PreviousRun {
  readonly leader?: string;
  readonly clusterId?: string;
  readonly reformedAfter?: string;
  /** Per node, the incarnation its steps were keyed on (absent in state written before it existed). */
  readonly members?: Readonly<Record<string, MemberRecord>>;
}

export interface SwarmPlan {
  /** The manager that bootstraps (runs init.sh) and from which every other step is driven. */
  readonly leader: string;
  /** True when no configured manager is in a swarm yet, so init.sh will start a new one. */
  readonly newSwarm: boolean;
  /** The swarm the cluster is in, when known. */
  readonly clusterId?: string;
}

const isActiveManager = (p: NodeProbe | undefined) => p?.isManager === true && p.swarmState === "active";

/**
 * Chooses the leader: the previous leader while it still manages the swarm (so the steps driven
 * from it do not move, and re-run, each time another manager comes back), else the first manager
 * (config order) that manages a swarm, else the first manager that answered (the first manager
 * when none did). Choosing by membership, not by name, is what makes a rebuilt manager-1 rejoin
 * the existing swarm instead of starting a second one (the seed's bug).
 * @throws Error when managers are in different swarms: joining them would lose one cluster's state.
 */
export function planSwarm(
  nodes: readonly PlannedNode[],
  probes: Readonly<Record<string, NodeProbe>>,
  previousLeader?: string,
): SwarmPlan {
  const managers = nodes.filter((n) => n.role === "manager");
  if (managers.length === 0) throw new Error("no managers in the config");
  const active = managers.filter((m) => isActiveManager(probes[m.name]));
  // A manager whose swarm has no raft leader (an election, or quorum lost) reports no ID: it says
  // nothing about which swarm it is in, so only the IDs reported are compared.
  const clusters = [...new Set(active.map((m) => probes[m.name].clusterId ?? "").filter((id) => id !== ""))];
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
  const first = managers.find((m) => probes[m.name]?.reachable) ?? managers[0];
  return { leader: first.name, newSwarm: true };
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

/** How one node takes part in this run. */
export type NodeStatus =
  /** It answered: its steps are keyed on what it is now. */
  | "present"
  /** It did not answer but joined before: its steps stand exactly as the last run left them. */
  | "off"
  /** It never joined and has not answered yet: planned as joining (up waits for it to boot). */
  | "expected";

export interface MemberPlan {
  readonly name: string;
  readonly status: NodeStatus;
  /** The incarnation its steps are keyed on. */
  readonly record: MemberRecord;
}

export interface ClusterPlan extends SwarmPlan {
  readonly epoch: string;
  /** `leader:machineId[:after-epoch]`: a new value re-runs init and the token read. */
  readonly leaderIncarnation: string;
  /** The members (name:role), sorted: a new value means a node joins or leaves, so tokens are read afresh. */
  readonly membershipKey: string;
  readonly members: Readonly<Record<string, MemberPlan>>;
  /** Nodes that did not answer: named in one warning. */
  readonly unreachable: readonly string[];
  /** True when no manager of the swarm answered although the last run formed one: nothing is changed. */
  readonly swarmUnreachable: boolean;
}

/** Machine ID shown in a preview for a node that has not answered yet. */
export const NOT_YET_SEEN = "not-yet-seen";

/**
 * The whole run's plan from the probes and the last run's outputs. A node that is off keeps the
 * incarnation the last run recorded, so nothing of it is replaced or deleted (its delete would
 * dial a dead host); one that never joined is planned as joining. When no
 * manager of the existing swarm answers, every node keeps its record and the leader stays: the
 * run then changes nothing rather than forming a second swarm next to the one that is off.
 * @param expectBoot true in a preview, where probes do not wait for booting nodes.
 * @throws Error in an up when no manager answered and there is no swarm to keep, with the fix.
 */
export function planCluster(
  nodes: readonly PlannedNode[],
  probes: Readonly<Record<string, NodeProbe>>,
  previous: PreviousRun,
  expectBoot: boolean,
): ClusterPlan {
  const unreachable = nodes.filter((n) => !probes[n.name]?.reachable).map((n) => n.name);
  const previousMembers = previous.members ?? {};
  const managers = nodes.filter((n) => n.role === "manager");
  const swarmUnreachable =
    previous.clusterId !== undefined &&
    previous.clusterId !== "" &&
    !managers.some((m) => isActiveManager(probes[m.name])) &&
    managers.some((m) => !probes[m.name]?.reachable && previousMembers[m.name] !== undefined);
  const planned = swarmUnreachable
    ? { leader: previous.leader && managers.some((m) => m.name === previous.leader) ? previous.leader : managers[0].name, newSwarm: false, clusterId: previous.clusterId }
    : planSwarm(nodes, probes, previous.leader);
  // Managers in a swarm that reported no ID (no raft leader when probed) are in the swarm the last
  // run recorded: keeping its ID keeps every Swarm object keyed on it from showing as replaced.
  const base: SwarmPlan = !planned.newSwarm && !planned.clusterId && previous.clusterId ? { ...planned, clusterId: previous.clusterId } : planned;
  const epoch = swarmUnreachable ? previous.reformedAfter ?? "" : reformedAfter(base, previous);

  const members: Record<string, MemberPlan> = {};
  for (const node of nodes) {
    const probe = probes[node.name];
    const last = previousMembers[node.name];
    if (probe?.reachable && !swarmUnreachable) {
      members[node.name] = { name: node.name, status: "present", record: { machineId: probe.machineId ?? "", epoch } };
    } else if (last) {
      members[node.name] = { name: node.name, status: "off", record: last };
    } else {
      members[node.name] = { name: node.name, status: "expected", record: { machineId: probe?.machineId ?? NOT_YET_SEEN, epoch } };
    }
  }
  if (!expectBoot && members[base.leader].status === "expected" && !probes[base.leader]?.reachable) {
    throw new Error(
      `no manager answered SSH (${managers.map((m) => m.name).join(", ")}), so there is no node to form the swarm on. Fix: check they are powered, on the network and flashed with this stack's Ignition (after \`pulumi destroy\` the deploy key is new: reflash), then run \`pulumi up\` again.`,
    );
  }
  const leaderIncarnation = `${base.leader}:${members[base.leader].record.machineId}${epoch ? `:after-${epoch}` : ""}`;
  const membershipKey = nodes
    .map((n) => `${n.name}:${n.role}`)
    .sort()
    .join(",");
  return { ...base, epoch, leaderIncarnation, membershipKey, members, unreachable, swarmUnreachable };
}

/** Labels as `key=value` arguments, sorted so a reordered config map changes no command. */
export function labelArguments(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}
