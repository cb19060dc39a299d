import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { HomelabConfig } from "../config/schema";
import { LastRun } from "./lastRun";
import { StackSource } from "../compose/types";
import { routedHosts } from "../routing/hosts";
import { buildImageOnNode } from "./builtImage";
import { Platform } from "./platform";
import { Swarm } from "./swarm";
import { Node } from "./node";

export interface HomelabArgs {
  /** The validated stack config (config/validate.ts). */
  readonly config: HomelabConfig;
  /** Where Ignition files go, relative to the project (e.g. out/homelab/ignition). */
  readonly ignitionDir: string;
  /** Where the CA certificate goes, relative to the project (default: next to ignitionDir). */
  readonly caCertificateFile?: string;
  /** What the stack's last run reported (see Swarm). */
  readonly previous?: pulumi.Input<LastRun>;
  /** The stacks to deploy, loaded and checked before anything is registered (config/stacks.ts). */
  readonly stacks?: readonly StackSource[];
  /** The owner's Traefik dashboard password from the stack config, if set (else one is generated). */
  readonly dashboardPassword?: pulumi.Output<string>;
  /** The owner's ntfy topic for alerts from the stack config, if set (else one is generated). */
  readonly ntfyTopic?: pulumi.Output<string>;
  /** The owner's restic password (homelab:backupPassword); absent: generated. */
  readonly backupPassword?: pulumi.Output<string>;
  /** A secret from the stack config, by key (checked to exist by config/stacks.ts). */
  readonly configSecret?: (key: string) => pulumi.Output<string>;
}

export interface NodeSummary {
  readonly role: string;
  readonly address: string;
  readonly ignitionPath: pulumi.Output<string>;
  readonly sshCommand: string;
}

/**
 * The whole homelab: a deploy key of its own, one Node per config entry (child names are node
 * names, never list positions, so reordering the config replaces nothing) and the swarm over them.
 */
export class Homelab extends pulumi.ComponentResource {
  public readonly nodes: Record<string, NodeSummary>;
  public readonly deployPublicKey: pulumi.Output<string>;
  /** The swarm over the nodes: what the service components build on. */
  public readonly swarm: Swarm;
  /** Shared networks and stacks on the swarm. */
  public readonly platform: Platform;

  constructor(name: string, args: HomelabArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:index:Homelab", name, {}, { ...opts, aliases: [{ type: "homelab:cluster:Homelab" }, ...(opts?.aliases ?? [])] });
    // Ed25519: short keys in Ignition, and supported by Flatcar's sshd and @pulumi/command alike.
    const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, { parent: this });
    const deployPublicKey = deployKey.publicKeyOpenssh.apply((k) => k.trim());
    if (!pulumi.runtime.isDryRun()) {
      pulumi.log.info(
        `Reading each node's state over SSH; a node that does not answer yet is waited for up to ${args.config.ssh.waitMinutes} min (homelab:ssh.waitMinutes): flash and boot it now.`,
        this,
      );
    }
    const nodes = args.config.nodes.map(
      (node) =>
        new Node(
          node.name,
          { config: args.config, node, deployPublicKey, deployPrivateKey: deployKey.privateKeyOpenssh, ignitionDir: args.ignitionDir },
          { parent: this },
        ),
    );
    this.swarm = new Swarm(`${name}-swarm`, { ssh: args.config.ssh, nodes, privateKeyOpenssh: deployKey.privateKeyOpenssh, previous: args.previous }, { parent: this });
    this.platform = new Platform(
      `${name}-platform`,
      {
        platform: args.config.platform,
        domain: args.config.domain,
        caCertificateFile: args.caCertificateFile ?? `${args.ignitionDir.replace(/\/[^/]*$/, "")}/homelab-ca.crt`,
        stacks: args.stacks ?? [],
        connection: this.swarm.leaderConnection,
        swarmId: this.swarm.clusterId,
        configSecret: args.configSecret ?? ((key) => new pulumi.Config("homelab").requireSecret(key)),
        routedHosts: routedHosts(args.config, args.stacks ?? []),
        dashboardPassword: args.dashboardPassword,
        ntfyTopic: args.ntfyTopic,
        backupPassword: args.backupPassword,
        buildImage: (build, parent) => {
          const node = args.config.nodes.find((n) => n.name === build.node);
          if (!node) throw new Error(`image ${build.image} is to be built on ${build.node}, which is not in homelab:nodes (a bug)`);
          // After the swarm is formed: a node still booting on the first run has joined by then.
          const key = pulumi.all([deployKey.privateKeyOpenssh, this.swarm.clusterId]).apply(([k]) => k);
          return buildImageOnNode({ node, tag: build.image, dockerfile: build.dockerfile, privateKeyOpenssh: key }, parent);
        },
        stackRetries: args.previous ? pulumi.output(args.previous).apply((p) => p.stackRetries ?? {}) : {},
        dns: { upstreams: args.config.platform.dns.upstreams, answers: args.config.nodes.filter((n) => n.role === "manager").map((n) => n.address) },
      },
      { parent: this },
    );
    this.nodes = Object.fromEntries(
      nodes.map((n) => [n.name, { role: n.role, address: n.address, ignitionPath: n.ignitionPath, sshCommand: n.sshCommand }]),
    );
    this.deployPublicKey = deployPublicKey;
    this.registerOutputs({ nodes: this.nodes, deployPublicKey });
  }
}
