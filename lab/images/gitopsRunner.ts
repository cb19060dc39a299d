/**
 * The lab's build of the GitOps runner's image (lab/images/gitops-runner), under the tag the
 * platform computes for stacks/gitops (compose/gitops.ts runnerImageTag), loaded into the node
 * the runner is pinned to. Not in LAB_IMAGE_TAGS: its tag follows the stack's Dockerfile, it is
 * ~900 MB, and only the GitOps cluster e2e runs it, on one node.
 */
import * as fs from "fs";
import * as path from "path";
import { GITOPS_SERVICE, GITOPS_STACK, runnerImageTag } from "../../compose/gitops";
import { loadStack } from "../../compose/load";
import { REPO_ROOT, labPaths } from "../config";
import { run } from "../exec";
import { Log, step } from "../progress";
import { loadImagesIntoNode } from "./load";

/** The tag the platform gives the runner's image, from the stack's compose file and Dockerfile. */
export function gitopsRunnerTag(): string {
  const dir = path.join(REPO_ROOT, "stacks", GITOPS_STACK);
  const stack = loadStack(dir);
  const image = String((stack.document.services as Record<string, { image?: unknown }>)[GITOPS_SERVICE].image);
  return runnerImageTag(image, fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"));
}

/** Builds (or reuses) the lab's runner image and loads it into `node`; returns its tag. */
export async function loadGitOpsRunnerImage(node: string, toolchainBin: string, log: Log): Promise<string> {
  const tag = gitopsRunnerTag();
  const r = await step(log, `image ${tag} (the lab's build of the runner's image: debootstrap and npm's cache the first time, ~3 min; ~10 s cached)`, () =>
    run("bash", [path.join(REPO_ROOT, "lab", "images", "gitops-runner", "image.sh")], {
      inheritStderr: true,
      env: { ...process.env, HOMELAB_GITOPS_RUNNER_TAG: tag, HOMELAB_TOOLCHAIN_BIN: toolchainBin, HOMELAB_GITOPS_LOCKFILE: path.join(REPO_ROOT, "package-lock.json"), HOMELAB_LAB_CACHE: labPaths().cache },
    }),
  );
  const tarball = r.stdout.trim().split("\n").pop() ?? "";
  if (!tarball.endsWith(".tar")) throw new Error(`lab/images/gitops-runner/image.sh printed no tarball path: ${JSON.stringify(r.stdout.slice(-300))}`);
  await step(log, `docker load ${tag} into ${node}`, () => loadImagesIntoNode(node, [{ tags: [tag], tarball }]));
  return tag;
}
