import * as command from "@pulumi/command";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { NodeConfig, SshConfig } from "../config/schema";
import { NodeProbe, probeFromKeyValues } from "../swarm/plan";
import { parseKeyValues, scriptInvocation, shellQuote } from "../swarm/scripts";

const OVER_SSH = fs.readFileSync(path.join(__dirname, "..", "swarm", "local", "over-ssh.sh"), "utf8");

/**
 * A command line that runs a node script from this machine over SSH (swarm/local/over-ssh.sh,
 * its text inline, so a command stored in the state does not depend on where the project is):
 * stdin must carry the deploy key, then the script. A node that does not answer within
 * waitSeconds gives `reachable=false` and exit 0.
 */
export function overSshCommandLine(node: Pick<NodeConfig, "address" | "sshPort">, waitSeconds: number, args: readonly string[] = []): string {
  return ["bash", "-c", shellQuote(OVER_SSH), "over-ssh", node.address, String(node.sshPort), "core", String(waitSeconds), ...args].join(" ");
}

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
        command: overSshCommandLine(node, waitSeconds),
        stdin: pulumi.interpolate`${privateKeyOpenssh}\n${probe.stdin}`,
        logging: "none",
        addPreviousOutputInEnv: false,
      },
      { parent },
    )
    // A node that did not answer is the Swarm's to report, in one warning for the whole run.
    .apply((r) => parseProbe(r.stdout));
  // The result holds no secret (machine ID, swarm state); only the key that went in on stdin was one.
  return pulumi.unsecret(result);
}
