/**
 * Puts the lab's service images into a node's own dockerd, under the names the compose files use,
 * so Swarm starts tasks from them when its pull fails (the lab has no registry; each node's
 * entrypoint points the registries' names at a closed local port, so pulls fail at once).
 */
import { containerName } from "../config";
import { docker } from "../host";
import { nodeExec } from "../nodes";

export interface LabImage {
  /** Every tag the tarball holds: one image may carry several (lab/images/standin). */
  readonly tags: readonly string[];
  readonly tarball: string;
}

/** The image IDs the tags name on the host, or in a node, a line each ("" if any is missing). */
async function imageIds(tags: readonly string[], node?: string): Promise<string> {
  const argv = ["image", "inspect", "--format", "{{.Id}}", ...tags];
  const r = node ? await nodeExec(node, ["docker", ...argv]) : await docker(argv, { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : "";
}

/**
 * Loads each image the node does not have in the host's build (same ID: `docker save`/`load` keep
 * it) under every one of its tags, and returns the tags it loaded. A rebuilt node (new disk) gets
 * all of them again.
 */
export async function loadImagesIntoNode(node: string, images: readonly LabImage[]): Promise<string[]> {
  const loaded: string[] = [];
  for (const image of images) {
    const want = await imageIds(image.tags);
    if (want !== "" && (await imageIds(image.tags, node)) === want) continue;
    // Through a file in the node: a 170 MB tarball is no string to pipe through exec's stdin.
    const inNode = `/var/tmp/homelab-image-${process.pid}.tar`;
    await docker(["cp", image.tarball, `${containerName(node)}:${inNode}`]);
    const r = await nodeExec(node, ["sh", "-c", `docker load -q -i ${inNode}; s=$?; rm -f ${inNode}; exit $s`]);
    if (r.code !== 0) throw new Error(`loading ${image.tags.join(", ")} into ${node} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    loaded.push(...image.tags);
  }
  return loaded;
}
