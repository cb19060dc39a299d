import { Availability, Role } from "../config/schema";
import { NodeProbe, planSwarm, probeFromKeyValues } from "./plan";
import { joinTokenPreamble, parseKeyValues, scriptInvocation } from "./scripts";
import { SshError, SshTarget, runOverSsh } from "./ssh";

/** A node as the converge runner needs it: where it is, how to log in, what it should be. */
export interface ConvergeTarget extends SshTarget {
  readonly name: string;
  readonly role: Role;
  readonly labels?: Readonly<Record<string, string>>;
  readonly availability?: Availability;
}

export interface ConvergeResult {
  readonly leader: string;
  readonly clusterId: string;
  /** True when this run started a new swarm. */
  readonly created: boolean;
  /** Nodes that joined during this run (an unchanged cluster gives none). */
  readonly joined: readonly string[];
  /** Nodes that did not answer SSH and were left alone. */
  readonly unreachable: readonly string[];
  /** Swarm node ID per node name. */
  readonly nodeIds: Readonly<Record<string, string>>;
}

export interface ConvergeOptions {
  readonly log?: (message: string) => void;
}

async function run(target: ConvergeTarget, what: string, invocation: ReturnType<typeof scriptInvocation>): Promise<Record<string, string>> {
  const result = await runOverSsh(target, invocation);
  if (result.code !== 0) throw new SshError(target, result, what);
  return parseKeyValues(result.stdout);
}

export async function probeNode(target: ConvergeTarget): Promise<NodeProbe> {
  const result = await runOverSsh(target, scriptInvocation("probe"));
  if (result.code === 255) return { reachable: false };
  if (result.code !== 0) throw new SshError(target, result, "probe.sh");
  return probeFromKeyValues(parseKeyValues(result.stdout));
}

/**
 * Brings the swarm to what the targets describe, over plain SSH, with the same scripts and the
 * same leader choice as the Pulumi program (`components/swarm.ts`): probe, init on the leader,
 * join the rest with tokens read over SSH, set roles/labels/availability, rotate the tokens.
 * Unreachable nodes are reported and skipped. Used by the lab tests and the bootstrap benchmark.
 */
export async function convergeSwarm(targets: readonly ConvergeTarget[], options: ConvergeOptions = {}): Promise<ConvergeResult> {
  const log = options.log ?? (() => undefined);
  const probes = Object.fromEntries(await Promise.all(targets.map(async (t) => [t.name, await probeNode(t)] as const)));
  const reachable = targets.filter((t) => probes[t.name].reachable);
  const unreachable = targets.filter((t) => !probes[t.name].reachable).map((t) => t.name);
  if (unreachable.length > 0) log(`unreachable, skipped: ${unreachable.join(", ")}`);
  const plan = planSwarm(reachable, probes);
  const leader = reachable.find((t) => t.name === plan.leader)!;
  log(`leader: ${leader.name}${plan.newSwarm ? " (new swarm)" : ""}`);

  const init = await run(leader, "init.sh", scriptInvocation("init", [leader.address]));
  const tokens = await run(leader, "join-tokens.sh", scriptInvocation("join-tokens"));
  const joinResults = await Promise.all(
    reachable.map(async (t) => {
      const token = t.role === "manager" ? tokens.manager : tokens.worker;
      const out = await run(t, "join.sh", scriptInvocation("join", [leader.address, t.address], joinTokenPreamble(token)));
      return { name: t.name, joined: out.joined === "true", nodeId: out.node_id };
    }),
  );
  const joined = joinResults.filter((j) => j.joined).map((j) => j.name);
  if (joined.length > 0) log(`joined: ${joined.join(", ")}`);
  const nodeIds: Record<string, string> = {};
  for (const t of reachable) {
    const labels = Object.entries(t.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const ownId = joinResults.find((j) => j.name === t.name)!.nodeId;
    const out = await run(leader, `node-config.sh ${t.name}`, scriptInvocation("node-config", [t.name, ownId, t.role, t.availability ?? "active", ...labels]));
    nodeIds[t.name] = out.node_id;
  }
  if (joined.length > 0 || init.created === "true") {
    await run(leader, "join-tokens.sh --rotate", scriptInvocation("join-tokens", ["--rotate"]));
    log("join tokens rotated");
  }
  return { leader: leader.name, clusterId: init.cluster_id, created: init.created === "true", joined, unreachable, nodeIds };
}
