import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { NodeConfig } from "../config/schema";
import { parseKeyValues, scriptInvocation } from "../swarm/scripts";
import { overSshCommandLine } from "./probes";

/** Seconds a build step waits for its node's SSH: the probes already waited for a booting node this run. */
const BUILD_NODE_WAIT_SECONDS = 30;

export interface ImageBuild {
  /** The node the service is pinned to, where the image is made (no registry is assumed). */
  readonly node: NodeConfig;
  /** The tag, which carries a hash of the Dockerfile (compose/gitops.ts runnerImageTag). */
  readonly tag: string;
  readonly dockerfile: string;
  /** The deploy key (OpenSSH private key, a secret), on stdin only. */
  readonly privateKeyOpenssh: pulumi.Input<string>;
}

/** What image.sh said: `present`, `built`, `failed` (with its reason), or the node was off. */
export function parseImageResult(stdout: string): { readonly image: "present" | "built" | "failed" | "unreachable"; readonly reason?: string } {
  const kv = parseKeyValues(stdout);
  if (kv.reachable !== "true") return { image: "unreachable" };
  const image = kv.image === "present" || kv.image === "built" ? kv.image : "failed";
  return image === "failed" ? { image, reason: kv.reason?.trim() || "image.sh printed no result" } : { image };
}

/**
 * Makes sure the node has the image, on every `up` (swarm/scripts/image.sh: a `docker image
 * inspect` when it has; a build the first time and after the Dockerfile changed), before the
 * stack that runs it deploys. An invoke, not a resource: a node's image can go (a prune, a
 * reflash) without any input changing, and an unchanged cluster shows no diff. Not run by
 * preview, which changes nothing. A node that is off, or a build that fails, is a warning: the
 * rest deploys, and the swarm starts the task once a later run has made the image.
 * Resolves to the tag.
 */
export function buildImageOnNode(build: ImageBuild, parent: pulumi.Resource): pulumi.Output<string> {
  if (pulumi.runtime.isDryRun()) return pulumi.output(build.tag);
  const script = scriptInvocation("image", [build.tag], `HOMELAB_IMAGE_DOCKERFILE='${Buffer.from(build.dockerfile, "utf8").toString("base64")}'`);
  const result = command.local.runOutput(
    {
      command: overSshCommandLine(build.node, BUILD_NODE_WAIT_SECONDS, [build.tag]),
      stdin: pulumi.interpolate`${build.privateKeyOpenssh}\n${script.stdin}`,
      logging: "none",
      addPreviousOutputInEnv: false,
    },
    { parent },
  );
  return pulumi.unsecret(result).apply((r) => {
    const outcome = parseImageResult(r.stdout);
    if (outcome.image === "unreachable") {
      pulumi.log.warn(`image ${build.tag} could not be made: ${build.node.name} (${build.node.address}) did not answer SSH. Its service starts once ${build.node.name} is back and a \`pulumi up\` has built it there.`, parent);
    } else if (outcome.image === "failed") {
      pulumi.log.warn(`image ${build.tag} failed to build on ${build.node.name}: ${outcome.reason}. Fix: the node needs to reach the base image's registry and Debian's mirror; run \`pulumi up\` again, or see \`docker build\` there.`, parent);
    } else if (outcome.image === "built") {
      pulumi.log.info(`built image ${build.tag} on ${build.node.name}`, parent);
    }
    return build.tag;
  });
}
