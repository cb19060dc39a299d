import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { NodeConfig, SshConfig } from "../config/schema";
import { NodeProbe, PreviousRun, planSwarm, reformedAfter } from "../swarm/plan";
import { joinTokenPreamble, parseKeyValues, scriptCommandLine, scriptInvocation } from "../swarm/scripts";
import { nodeConnection } from "./connection";
import { Node } from "./node";

export interface ClusterArgs {
  /** SSH settings (dial budget) from the stack config. */
  readonly ssh: SshConfig;
  /** The nodes, in config order (the first manager bootstraps a new swarm). */
  readonly nodes: readonly Node[];
  /** Deploy key, OpenSSH private key form (a secret). */
  readonly privateKeyOpenssh: pulumi.Input<string>;
  /** What the stack's last run reported (its own outputs): its leader is kept while healthy, a lost swarm is re-formed. */
  readonly previous?: pulumi.Input<PreviousRun>;
}

export interface JoinTokens {
  readonly worker: string;
  readonly manager: string;
}

/** Commands whose output carries tokens: stdout secret in state, nothing in the logs. */
const SECRET_OUTPUT: Partial<command.remote.CommandArgs> = { logging: "none" };

/**
 * Every remote command: the provider would otherwise hand a command's previous stdout (join
 * tokens, for some) to its next run in the environment, i.e. on the node's command line.
 */
const NO_PREVIOUS_OUTPUT = { addPreviousOutputInEnv: false } as const;

/**
 * The Docker Swarm over SSH. The chain, and why each link:
 * 1. from every node's probe (Node.probe: an invoke, no diff when nothing changed) pick the
 *    leader: the last run's leader while it manages the swarm, else the first manager already in
 *    a swarm, else the first manager, so a rebuilt manager-1 rejoins (swarm/plan.ts);
 * 2. `init` on the leader (a no-op when it manages a swarm already);
 * 3. read join tokens on the leader (re-read whenever membership changes: the last rotation made
 *    the old ones useless);
 * 4. per node: `registration` (its delete removes the node from the list, last), `join` on the
 *    node (replaced when the node's machine ID changes, i.e. it was rebuilt; its delete makes the
 *    node leave), `membership` on the leader (role, availability, labels; its delete drains the
 *    node, first). Delete order is the reverse: drain, leave, remove;
 * 5. rotate the tokens after the joins; the rotated ones are this component's secret output.
 */
export class Cluster extends pulumi.ComponentResource {
  public readonly leader: pulumi.Output<string>;
  public readonly clusterId: pulumi.Output<string>;
  public readonly joinTokens: pulumi.Output<JoinTokens>;
  /** See swarm/plan.ts reformedAfter: "" until a swarm this stack formed was lost and formed again. */
  public readonly reformedAfter: pulumi.Output<string>;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:swarm:Cluster", name, {}, opts);
    const parent = { parent: this };
    const nodes = args.nodes.map((n) => n.config);
    const probes = pulumi
      .all(args.nodes.map((n) => n.probe.apply((p) => [n.name, p] as const)))
      .apply((entries) => Object.fromEntries(entries) as Record<string, NodeProbe>);
    const previous = pulumi.output(args.previous ?? {});
    const plan = pulumi.all([probes, previous]).apply(([p, last]) => planSwarm(nodes, p, last.leader));
    const epoch = pulumi.all([plan, previous]).apply(([p, last]) => reformedAfter(p, last));
    const leaderNode = plan.apply((p) => nodes.find((n) => n.name === p.leader)!);
    const leaderConnection = nodeConnection(args.ssh, leaderNode.address, leaderNode.sshPort, args.privateKeyOpenssh);
    const connectionOf = (node: NodeConfig) => nodeConnection(args.ssh, node.address, node.sshPort, args.privateKeyOpenssh);
    const machineId = (node: NodeConfig) => probes.apply((p) => p[node.name]?.machineId ?? "unreachable");
    // Which leader, and which incarnation of it: when every node was reflashed at once (state
    // kept), the leader's new disk needs a new swarm and new tokens although nothing else changed.
    const leaderIncarnation = pulumi
      .all([plan, probes, epoch])
      .apply(([p, all, e]) => `${p.leader}:${all[p.leader]?.machineId ?? "unreachable"}${e ? `:after-${e}` : ""}`);
    const membershipKey = nodes.map((n) => `${n.name}:${n.role}`).sort().join(",");

    const initScript = leaderNode.address.apply((address) => scriptInvocation("init", [address]));
    const init = new command.remote.Command(
      `${name}-init`,
      { ...NO_PREVIOUS_OUTPUT, connection: leaderConnection, create: initScript.command, stdin: initScript.stdin, triggers: [leaderIncarnation] },
      // The Ignition files first: a node cannot boot before its file exists.
      { ...parent, dependsOn: [...args.nodes] },
    );

    const readTokens = scriptInvocation("join-tokens");
    const tokens = new command.remote.Command(
      `${name}-join-tokens`,
      { ...NO_PREVIOUS_OUTPUT, connection: leaderConnection, create: readTokens.command, stdin: readTokens.stdin, triggers: [membershipKey, leaderIncarnation], ...SECRET_OUTPUT },
      { ...parent, dependsOn: [init], additionalSecretOutputs: ["stdout"] },
    );
    const currentTokens = tokens.stdout.apply(parseKeyValues);
    const clusterId = init.stdout.apply((out) => parseKeyValues(out).cluster_id ?? "");

    const memberships = nodes.map((node) => {
      const registration = new command.remote.Command(
        `${name}-${node.name}-registration`,
        { ...NO_PREVIOUS_OUTPUT, connection: leaderConnection, create: "true", delete: scriptCommandLine("remove", [node.name]) },
        { ...parent, dependsOn: [init] },
      );
      // The command line holds no secret; the token travels only in stdin.
      const joinCommandLine = leaderNode.address.apply((leader) => scriptInvocation("join", [leader, node.address]).command);
      const joinStdin = pulumi
        .all([leaderNode.address, currentTokens])
        .apply(([leader, t]) => scriptInvocation("join", [leader, node.address], joinTokenPreamble(node.role === "manager" ? t.manager : t.worker)).stdin);
      const joinCommand = new command.remote.Command(
        `${name}-${node.name}-join`,
        {
          ...NO_PREVIOUS_OUTPUT,
          connection: connectionOf(node),
          create: joinCommandLine,
          stdin: pulumi.secret(joinStdin),
          // Recorded at join time: a later delete leaves only if the disk, and for a manager the
          // swarm, are still the ones that joined (the leader may have formed a new swarm already).
          delete: pulumi.all([machineId(node), clusterId]).apply(([id, cluster]) => scriptCommandLine("leave", cluster ? [id, cluster] : [id])),
          triggers: [machineId(node), epoch],
        },
        {
          ...parent,
          dependsOn: [registration, tokens],
          // A rebuilt node must leave (a no-op on the new disk) before it joins, never after.
          deleteBeforeReplace: true,
          // New tokens or a new leader do not make a member join again; a rebuild (trigger) does.
          ignoreChanges: ["create", "stdin"],
        },
      );
      const labels = Object.entries(node.labels).map(([k, v]) => `${k}=${v}`).sort();
      // The node's swarm ID comes from its join: after a rebuild it is new, so this step re-runs
      // (an update, not a drain) and removes the old incarnation's entry.
      const nodeId = joinCommand.stdout.apply((out) => parseKeyValues(out).node_id ?? "");
      const configure = nodeId.apply((id) => scriptInvocation("node-config", [node.name, id, node.role, node.availability, ...labels]));
      return new command.remote.Command(
        `${name}-${node.name}-membership`,
        {
          ...NO_PREVIOUS_OUTPUT,
          connection: leaderConnection,
          create: configure.command,
          stdin: configure.stdin,
          delete: scriptCommandLine("drain", [node.name]),
        },
        { ...parent, dependsOn: [joinCommand] },
      );
    });

    const rotate = scriptInvocation("join-tokens", ["--rotate"]);
    const rotated = new command.remote.Command(
      `${name}-rotate-join-tokens`,
      {
        ...NO_PREVIOUS_OUTPUT,
        connection: leaderConnection,
        create: rotate.command,
        stdin: rotate.stdin,
        triggers: [membershipKey, epoch, ...nodes.map(machineId)],
        ...SECRET_OUTPUT,
      },
      { ...parent, dependsOn: memberships, additionalSecretOutputs: ["stdout"] },
    );

    this.leader = plan.apply((p) => p.leader);
    this.reformedAfter = epoch;
    this.clusterId = clusterId;
    this.joinTokens = pulumi.secret(rotated.stdout.apply((out) => {
      const kv = parseKeyValues(out);
      return { worker: kv.worker ?? "", manager: kv.manager ?? "" };
    }));
    this.registerOutputs({ leader: this.leader, clusterId: this.clusterId, joinTokens: this.joinTokens, reformedAfter: this.reformedAfter });
  }
}
