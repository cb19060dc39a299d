import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { SharedNetwork } from "../config/schema";
import { scriptCommandLine, scriptInvocation } from "../swarm/scripts";
import { NodeConnection } from "./connection";

export interface SharedNetworksArgs {
  readonly networks: readonly SharedNetwork[];
  /** A manager of the swarm (Swarm.leaderConnection: resolves once the swarm is formed). */
  readonly connection: pulumi.Input<NodeConnection>;
  /** The swarm's ID: a swarm formed anew (the old one lost) gets its networks again. */
  readonly swarmId: pulumi.Input<string>;
}

/**
 * The overlay networks the stacks share, created before any stack (the seed's stacks named an
 * external network nothing created, so a fresh install stopped after the first stack). Each is
 * keyed on its name and the swarm only: a new leader re-runs the idempotent ensure on another
 * manager and recreates nothing.
 */
export class SharedNetworks extends pulumi.ComponentResource {
  /** Network name → the step that creates it (stacks depend on the ones they use). */
  public readonly byName: Record<string, command.remote.Command>;

  constructor(name: string, args: SharedNetworksArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:platform:Networks", name, {}, opts);
    this.byName = Object.fromEntries(
      args.networks.map((network) => {
        const ensure = scriptInvocation("network", ["ensure", network.name, String(network.encrypted)]);
        const step = new command.remote.Command(
          `${name}-${network.name}`,
          {
            connection: args.connection,
            addPreviousOutputInEnv: false,
            create: ensure.command,
            stdin: ensure.stdin,
            delete: pulumi.output(args.swarmId).apply((swarm) => scriptCommandLine("network", ["remove", network.name, swarm])),
            triggers: [network.name, args.swarmId],
          },
          { parent: this },
        );
        return [network.name, step];
      }),
    );
    this.registerOutputs({ networks: Object.keys(this.byName) });
  }
}
