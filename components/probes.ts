import * as command from "@pulumi/command";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { HomelabConfig } from "../config/schema";
import { NodeProbe } from "../swarm/plan";
import { parseKeyValues, scriptInvocation } from "../swarm/scripts";

const PROBE_OVER_SSH = path.join(__dirname, "..", "swarm", "local", "probe-over-ssh.sh");

export function parseProbe(stdout: string): NodeProbe {
  const kv = parseKeyValues(stdout);
  if (kv.reachable !== "true") return { reachable: false };
  return {
    reachable: true,
    machineId: kv.machine_id,
    swarmState: kv.swarm_state,
    isManager: kv.is_manager === "true",
    clusterId: kv.cluster_id || undefined,
  };
}

/**
 * Reads every node's swarm state on each preview and up (an invoke: it changes nothing and is not
 * a resource, so an unchanged cluster shows no diff). This is how a rebuilt node is noticed: its
 * machine ID is new. During `up` it waits up to ssh.waitMinutes for nodes still booting; during
 * preview it tries once.
 */
export function probeNodes(
  config: HomelabConfig,
  privateKeyOpenssh: pulumi.Input<string>,
  parent: pulumi.Resource,
): pulumi.Output<Record<string, NodeProbe>> {
  const waitSeconds = pulumi.runtime.isDryRun() ? 0 : Math.round(config.ssh.waitMinutes * 60);
  if (waitSeconds > 0) {
    pulumi.log.info(
      `Reading each node's state over SSH; a node that does not answer yet is waited for up to ${config.ssh.waitMinutes} min (homelab:ssh.waitMinutes): flash and boot it now.`,
      parent,
    );
  }
  const probe = scriptInvocation("probe");
  const results = config.nodes.map((node) =>
    command.local
      .runOutput(
        {
          command: `bash '${PROBE_OVER_SSH}' ${node.address} ${node.sshPort} core ${waitSeconds}`,
          stdin: pulumi.interpolate`${privateKeyOpenssh}\n${probe.stdin}`,
          logging: "none",
          addPreviousOutputInEnv: false,
        },
        { parent },
      )
      .apply((r) => [node.name, parseProbe(r.stdout)] as const),
  );
  // The results hold no secret (machine IDs, swarm state); only the key that went in on stdin was one.
  return pulumi.unsecret(
    pulumi.all(results).apply((entries) => {
      const silent = entries.filter(([, p]) => !p.reachable).map(([name]) => name);
      if (silent.length > 0 && waitSeconds > 0) {
        pulumi.log.warn(
          `${silent.join(", ")} did not answer SSH as core within ${config.ssh.waitMinutes} min. Check they are powered, on the network and flashed with this stack's Ignition (after \`pulumi destroy\` the deploy key is new: reflash). Their steps will fail.`,
          parent,
        );
      }
      return Object.fromEntries(entries);
    }),
  );
}
