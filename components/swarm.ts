import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { NodeConfig, Role, SshConfig } from "../config/schema";
import { ClusterPlan, MemberRecord, NodeProbe, NodeStatus, PreviousRun, labelArguments, planCluster } from "../swarm/plan";
import { joinTokenPreamble, parseKeyValues, scriptCommandLine, scriptInvocation } from "../swarm/scripts";
import { NodeConnection, nodeConnection } from "./connection";
import { overSshCommandLine } from "./probes";
import { Node } from "./node";

export interface SwarmArgs {
  /** SSH settings (dial budget) from the stack config. */
  readonly ssh: SshConfig;
  /** The nodes, in config order (the first manager that answers bootstraps a new swarm). */
  readonly nodes: readonly Node[];
  /** Deploy key, OpenSSH private key form (a secret). */
  readonly privateKeyOpenssh: pulumi.Input<string>;
  /** What the stack's last run reported (its own outputs): leader, swarm, each node's incarnation. */
  readonly previous?: pulumi.Input<PreviousRun>;
}

export interface JoinTokens {
  readonly worker: string;
  readonly manager: string;
}

/** A node as the components that deploy onto the swarm see it. */
export interface SwarmNode {
  readonly role: Role;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Commands whose output carries tokens: stdout secret in state, nothing in the logs. */
const SECRET_OUTPUT = { logging: "none" } as const;

/**
 * Every remote command: the provider would otherwise hand a command's previous stdout (join
 * tokens, for some) to its next run in the environment, i.e. on the node's command line.
 */
const NO_PREVIOUS_OUTPUT = { addPreviousOutputInEnv: false } as const;

/** How long removing a node waits for it to answer before it is taken off the list without leaving. */
const DEPARTURE_WAIT_SECONDS = 15;

/**
 * The Docker Swarm over SSH. The chain, and why each link:
 * 1. plan (swarm/plan.ts, pure) from every node's probe and the last run's outputs: the leader
 *    (the last run's while it manages the swarm, else the first manager in a swarm, so a rebuilt
 *    manager-1 rejoins) and each node's incarnation: what it is now if it answered, what the last
 *    run recorded if it is off, so nothing of an off node is replaced or deleted;
 * 2. `init` on the leader (a no-op when it manages a swarm already);
 * 3. read join tokens on the leader (again whenever membership changes: the last rotation made the
 *    old ones useless);
 * 4. per node: `registration` (leader; its delete takes the node off the list, last),
 *    `departure` (this machine; its delete makes a removed node leave if it answers, else skips
 *    it: a dead Pi is only taken off the list), `join` (on the node; replaced when its disk or the
 *    swarm is new, its own delete then makes it leave first), `membership` (leader; role,
 *    availability, labels; its delete drains, first). Removing a node runs drain,
 *    leave-if-answering, remove;
 * 5. rotate the tokens after the joins; the rotated ones are a secret output.
 */
export class Swarm extends pulumi.ComponentResource {
  public readonly leader: pulumi.Output<string>;
  public readonly clusterId: pulumi.Output<string>;
  public readonly joinTokens: pulumi.Output<JoinTokens>;
  /** See swarm/plan.ts reformedAfter: "" until a swarm this stack formed was lost and formed again. */
  public readonly reformedAfter: pulumi.Output<string>;
  /** Per node, the incarnation its steps are keyed on (read back by the next run). */
  public readonly members: pulumi.Output<Record<string, MemberRecord>>;
  /** SSH to the leader; resolves only once the swarm is formed and the join tokens rotated (a secret). */
  public readonly leaderConnection: pulumi.Output<NodeConnection>;
  /** Every manager's address, config order: where swarm-wide steps may run when the leader moves. */
  public readonly managerAddresses: string[];
  /** Node name → role, address and labels, for placing services. */
  public readonly nodes: Record<string, SwarmNode>;

  private readonly args: SwarmArgs;
  private readonly plan: pulumi.Output<ClusterPlan>;
  private readonly leaderConnectionRaw: NodeConnection;
  private readonly leaderAddress: pulumi.Output<string>;

  constructor(name: string, args: SwarmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:swarm:Swarm", name, {}, { ...opts, aliases: [{ type: "homelab:swarm:Cluster" }, ...(opts?.aliases ?? [])] });
    this.args = args;
    const configs = args.nodes.map((n) => n.config);

    this.plan = this.planRun(configs);
    this.leaderAddress = this.plan.apply((p) => configs.find((n) => n.name === p.leader)!.address);
    const leaderPort = this.plan.apply((p) => configs.find((n) => n.name === p.leader)!.sshPort);
    this.leaderConnectionRaw = nodeConnection(args.ssh, this.leaderAddress, leaderPort, args.privateKeyOpenssh);

    const init = this.initSwarm(name);
    // Known from the probes when the swarm exists (so a preview with a new leader shows nothing in
    // the swarm replaced); from init's output only for a swarm this run starts.
    const clusterId = this.plan.apply((p) => (!p.newSwarm && p.clusterId ? pulumi.output(p.clusterId) : init.stdout.apply((out) => parseKeyValues(out).cluster_id ?? "")));
    const tokens = this.readJoinTokens(name, init);
    const memberships = configs.map((node) => this.addMember(name, node, tokens, clusterId, init));
    const rotated = this.rotateJoinTokens(name, memberships);

    this.leader = this.plan.apply((p) => p.leader);
    this.reformedAfter = this.plan.apply((p) => p.epoch);
    this.clusterId = clusterId;
    this.members = this.plan.apply((p) => Object.fromEntries(Object.values(p.members).map((m) => [m.name, m.record])));
    this.joinTokens = pulumi.secret(
      rotated.stdout.apply((out) => {
        const kv = parseKeyValues(out);
        return { worker: kv.worker ?? "", manager: kv.manager ?? "" };
      }),
    );
    this.leaderConnection = pulumi.secret(pulumi.all([pulumi.output(this.leaderConnectionRaw), rotated.stdout]).apply(([connection]) => connection));
    this.managerAddresses = configs.filter((n) => n.role === "manager").map((n) => n.address);
    this.nodes = Object.fromEntries(configs.map((n) => [n.name, { role: n.role, address: n.address, labels: n.labels }]));
    this.registerOutputs({
      leader: this.leader,
      clusterId: this.clusterId,
      joinTokens: this.joinTokens,
      reformedAfter: this.reformedAfter,
      members: this.members,
      managerAddresses: this.managerAddresses,
      nodes: this.nodes,
    });
  }

  /** Step 1: the plan, and one warning naming the nodes that did not answer. */
  private planRun(configs: readonly NodeConfig[]): pulumi.Output<ClusterPlan> {
    const probes = pulumi
      .all(this.args.nodes.map((n) => n.probe.apply((p) => [n.name, p] as const)))
      .apply((entries) => Object.fromEntries(entries) as Record<string, NodeProbe>);
    const dryRun = pulumi.runtime.isDryRun();
    return pulumi.all([probes, pulumi.output(this.args.previous ?? {})]).apply(([p, previous]) => {
      const plan = planCluster(configs, p, previous as PreviousRun, dryRun);
      const warning = unreachableWarning(plan, this.args.ssh.waitMinutes, dryRun);
      if (warning) pulumi.log.warn(warning, this);
      return plan;
    });
  }

  private leaderCommand(
    name: string,
    args: Omit<command.remote.CommandArgs, "connection">,
    opts: pulumi.CustomResourceOptions = {},
  ): command.remote.Command {
    return new command.remote.Command(name, { ...NO_PREVIOUS_OUTPUT, connection: this.leaderConnectionRaw, ...args }, { parent: this, ...opts });
  }

  /** Step 2: `swarm init` on the leader, again only for a new leader incarnation. */
  private initSwarm(name: string): command.remote.Command {
    const init = this.leaderAddress.apply((address) => scriptInvocation("init", [address]));
    return this.leaderCommand(
      `${name}-init`,
      { create: init.command, stdin: init.stdin, triggers: [this.plan.apply((p) => p.leaderIncarnation)] },
      // The Ignition files first: a node cannot boot before its file exists.
      { dependsOn: [...this.args.nodes] },
    );
  }

  /** Step 3: the current join tokens, read on the leader (a secret). */
  private readJoinTokens(name: string, init: command.remote.Command): command.remote.Command {
    const read = scriptInvocation("join-tokens");
    return this.leaderCommand(
      `${name}-join-tokens`,
      {
        create: read.command,
        stdin: read.stdin,
        // Read afresh whenever a node will join: one added or removed, a new leader or swarm, a
        // rebuilt disk (the last rotation made the tokens read before it useless).
        triggers: this.plan.apply((p) => [p.membershipKey, p.leaderIncarnation, ...Object.values(p.members).map((m) => m.record.machineId)]),
        ...SECRET_OUTPUT,
      },
      { dependsOn: [init], additionalSecretOutputs: ["stdout"] },
    );
  }

  /** Step 4, for one node; returns its membership, which the token rotation waits for. */
  private addMember(
    name: string,
    node: NodeConfig,
    tokens: command.remote.Command,
    clusterId: pulumi.Output<string>,
    init: command.remote.Command,
  ): command.remote.Command {
    // The incarnation the node's steps are keyed on: what it is now, or, while it is off, what the
    // last run recorded, so that nothing of it changes (any change would dial it).
    const record = this.plan.apply((p) => p.members[node.name].record);
    const machineId = record.apply((r) => r.machineId);
    const registration = this.leaderCommand(
      `${name}-${node.name}-registration`,
      { create: "true", delete: scriptCommandLine("remove", [node.name]) },
      { dependsOn: [init] },
    );
    const departure = this.departure(name, node, machineId, clusterId, registration);
    const currentTokens = tokens.stdout.apply(parseKeyValues);
    const join = new command.remote.Command(
      `${name}-${node.name}-join`,
      {
        ...NO_PREVIOUS_OUTPUT,
        connection: nodeConnection(this.args.ssh, node.address, node.sshPort, this.args.privateKeyOpenssh),
        // The command line holds no secret; the token travels only in stdin.
        create: this.leaderAddress.apply((leader) => scriptInvocation("join", [leader, node.address]).command),
        stdin: pulumi.secret(
          pulumi.all([this.leaderAddress, currentTokens]).apply(([leader, t]) =>
            scriptInvocation("join", [leader, node.address], joinTokenPreamble(node.role === "manager" ? t.manager : t.worker, t.node_ids ?? "")).stdin,
          ),
        ),
        // Recorded at join time: leaving then is for this disk and, for a manager, this swarm only.
        delete: pulumi.all([machineId, clusterId]).apply(([id, cluster]) => scriptCommandLine("leave", cluster ? [id, cluster] : [id])),
        triggers: [machineId, record.apply((r) => r.epoch)],
      },
      {
        parent: this,
        dependsOn: [registration, tokens, departure],
        // Removing the node deletes its departure too, which leaves only if the node answers: the
        // join's own delete (it dials the node) then does not run.
        deletedWith: departure,
        // A rebuilt node must leave (a no-op on the new disk) before it joins, never after.
        deleteBeforeReplace: true,
        // A new leader, new tokens or a new swarm ID do not make a member join again, and an off
        // node must see no change at all (an update would dial it); a new incarnation (trigger) does.
        ignoreChanges: ["create", "stdin", "delete"],
      },
    );
    const nodeId = join.stdout.apply((out) => parseKeyValues(out).node_id ?? "");
    const configure = nodeId.apply((id) => scriptInvocation("node-config", [node.name, id, node.role, node.availability, ...labelArguments(node.labels)]));
    // After the join (and so deleted before the departure: drain, then leave) through its inputs:
    // the node ID comes from the join's output.
    return this.leaderCommand(
      `${name}-${node.name}-membership`,
      { create: configure.command, stdin: configure.stdin, delete: scriptCommandLine("drain", [node.name]) },
    );
  }

  /**
   * A removed node leaves its swarm from this machine, over SSH with the key on stdin, only if it
   * answers within DEPARTURE_WAIT_SECONDS: a remote command would dial a dead Pi until it gives up
   * and fail the run. Deleted after the drain (membership) and before the removal (registration).
   */
  private departure(
    name: string,
    node: NodeConfig,
    machineId: pulumi.Output<string>,
    clusterId: pulumi.Output<string>,
    registration: command.remote.Command,
  ): command.local.Command {
    const leave = scriptInvocation("leave");
    return new command.local.Command(
      `${name}-${node.name}-departure`,
      {
        delete: pulumi.all([machineId, clusterId]).apply(([id, cluster]) => overSshCommandLine(node, DEPARTURE_WAIT_SECONDS, cluster ? [id, cluster] : [id])),
        stdin: pulumi.secret(pulumi.interpolate`${this.args.privateKeyOpenssh}\n${leave.stdin}`),
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [registration], additionalSecretOutputs: ["stdin"] },
    );
  }

  /** Step 5: rotate the join tokens once the joins are done; the new ones are the secret output. */
  private rotateJoinTokens(name: string, memberships: command.remote.Command[]): command.remote.Command {
    const rotate = scriptInvocation("join-tokens", ["--rotate"]);
    return this.leaderCommand(
      `${name}-rotate-join-tokens`,
      {
        create: rotate.command,
        stdin: rotate.stdin,
        // Flat, as the chain has always recorded them: a new shape would replace the rotation once.
        triggers: this.plan.apply((p) => [p.membershipKey, p.epoch, ...Object.values(p.members).map((m) => m.record.machineId)]),
        ...SECRET_OUTPUT,
      },
      { dependsOn: memberships, additionalSecretOutputs: ["stdout"] },
    );
  }
}

/** The one warning a run gives about nodes that did not answer, or "" when all did. */
export function unreachableWarning(plan: ClusterPlan, waitMinutes: number, dryRun: boolean): string {
  if (plan.unreachable.length === 0) return "";
  const withStatus = (status: NodeStatus) => plan.unreachable.filter((n) => plan.members[n].status === status);
  const them = (names: string[], one: string, many: string) => (names.length > 1 ? many : one);
  const parts: string[] = [];
  const off = withStatus("off");
  const expected = withStatus("expected");
  if (plan.swarmUnreachable) {
    parts.push(`No manager of swarm ${plan.clusterId} answered SSH (${plan.unreachable.join(", ")} did not): nothing in the swarm is changed this run; run \`pulumi up\` again once a manager is back.`);
  } else if (off.length > 0) {
    parts.push(
      `${off.join(", ")} did not answer SSH${dryRun ? "" : ` within ${waitMinutes} min`}: ${them(off, "its", "their")} swarm steps stay as the last run left them (nothing is replaced or removed), and the next \`pulumi up\` after ${them(off, "it answers", "they answer")} converges ${them(off, "it", "them")}.`,
    );
  }
  if (expected.length > 0) {
    parts.push(
      dryRun
        ? `${expected.join(", ")} did not answer SSH yet: \`pulumi up\` waits up to ${waitMinutes} min (homelab:ssh.waitMinutes) for ${them(expected, "it", "them")} to boot.`
        : `${expected.join(", ")} never joined and did not answer SSH within ${waitMinutes} min: ${them(expected, "its", "their")} steps will fail. Check ${them(expected, "it is", "they are")} powered, on the network and flashed with this stack's Ignition (after \`pulumi destroy\` the deploy key is new: reflash).`,
    );
  }
  return parts.join(" ");
}
