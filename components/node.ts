import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HomelabConfig, NodeConfig } from "../config/schema";
import { renderNodeIgnition, serializeIgnition } from "../ignition/node";
import { NodeProbe } from "../swarm/plan";
import { sshCommand } from "./connection";
import { probeNode } from "./probes";

export interface NodeArgs {
  /** The validated stack config. */
  readonly config: HomelabConfig;
  /** This node's entry in config.nodes. */
  readonly node: NodeConfig;
  /** Pulumi's deploy key, OpenSSH one-line public form (e.g. "ssh-ed25519 AAAA…"). */
  readonly deployPublicKey: pulumi.Input<string>;
  /** The same key's OpenSSH private form (a secret), to read the node's state over SSH. */
  readonly deployPrivateKey: pulumi.Input<string>;
  /** Folder the Ignition file goes to, relative to the project (e.g. out/homelab/ignition). */
  readonly ignitionDir: string;
}

/**
 * One machine: its Ignition file on the operator's disk (to flash onto its SD card), how to reach
 * it, and what it is now (`probe`: machine ID and swarm state, read over SSH on every run, waiting
 * for a node that is still booting). The swarm membership of the node is the Swarm's business.
 */
export class Node extends pulumi.ComponentResource {
  public readonly name: string;
  public readonly role: string;
  public readonly address: string;
  public readonly ignitionPath: pulumi.Output<string>;
  public readonly sshCommand: string;
  public readonly config: NodeConfig;
  public readonly probe: pulumi.Output<NodeProbe>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:node:Node", name, {}, { ...opts, aliases: [{ type: "homelab:swarm:Node" }, ...(opts?.aliases ?? [])] });
    const { node } = args;
    const file = `${args.ignitionDir}/${node.name}.ign`;
    const ignition = pulumi
      .output(args.deployPublicKey)
      .apply((key) => serializeIgnition(renderNodeIgnition(args.config, node, { extraAuthorizedKeys: [key] })));
    // A local command, not fs.writeFileSync in the program: preview must not write, and the file
    // is rewritten exactly when its content changes (stdin is an input of the command).
    const written = new command.local.Command(
      `${name}-ignition`,
      {
        create: `mkdir -p '${args.ignitionDir}' && cat > '${file}'`,
        delete: `rm -f '${file}'`,
        stdin: ignition,
        logging: "stderr",
      },
      { parent: this },
    );
    this.config = node;
    this.probe = probeNode(args.config.ssh, node, args.deployPrivateKey, this);
    this.name = node.name;
    this.role = node.role;
    this.address = node.address;
    this.sshCommand = sshCommand(node);
    this.ignitionPath = written.stdin.apply(() => file);
    this.registerOutputs({ name: this.name, role: this.role, address: this.address, ignitionPath: this.ignitionPath, sshCommand: this.sshCommand });
  }
}
