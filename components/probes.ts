import * as command from "@pulumi/command";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { NodeConfig, SshConfig } from "../config/schema";
import { NodeProbe, probeFromKeyValues } from "../swarm/plan";
import { parseKeyValues, scriptInvocation } from "../swarm/scripts";

const PROBE_OVER_SSH = path.join(__dirname, "..", "swarm", "local", "probe-over-ssh.sh");

export function parseProbe(stdout: string): NodeProbe {
  const kv = parseKeyValues(stdout);
  return kv.reachable === "true" ? probeFromKeyValues(kv) : { reachable: false };
}

/**
 * Reads one node's swarm state on each preview and up (an invoke: it changes nothing and is not a
 * resource, so an unchanged cluster shows no diff). This is how a rebuilt node is noticed: its
 * machine ID is new. During `up` it waits up to ssh.waitMinutes for a node still booting (first
 * boot on a Pi takes minutes); during preview it tries once.
 */
export function probeNode(
  ssh: SshConfig,
  node: NodeConfig,
  privateKeyOpenssh: pulumi.Input<string>,
  parent: pulumi.Resource,
): pulumi.Output<NodeProbe> {
  const waitSeconds = pulumi.runtime.isDryRun() ? 0 : Math.round(ssh.waitMinutes * 60);
  const probe = scriptInvocation("probe");
  const result = command.local
    .runOutput(
      {
        command: `bash '${PROBE_OVER_SSH}' ${node.address} ${node.sshPort} core ${waitSeconds}`,
        stdin: pulumi.interpolate`${privateKeyOpenssh}\n${probe.stdin}`,
        logging: "none",
        addPreviousOutputInEnv: false,
      },
      { parent },
    )
    .apply((r) => {
      const parsed = parseProbe(r.stdout);
      if (!parsed.reachable && waitSeconds > 0) {
        pulumi.log.warn(
          `${node.name} did not answer SSH as core within ${ssh.waitMinutes} min. Check it is powered, on the network and flashed with this stack's Ignition (after \`pulumi destroy\` the deploy key is new: reflash). Its steps will fail.`,
          parent,
        );
      }
      return parsed;
    });
  // The result holds no secret (machine ID, swarm state); only the key that went in on stdin was one.
  return pulumi.unsecret(result);
}
