/**
 * Service images for the lab, under the names the compose files use, built from source on this
 * machine (no registry is reachable): lab/images/<name>/image.sh builds or reuses the image on the
 * host's dockerd and saves it to a tarball in the cache, for the nodes' dockerds to load.
 */
import * as path from "path";
import { REPO_ROOT } from "../config";
import { run } from "../exec";
import { Log, defaultLog, step } from "../progress";

/** Each lab image and the tag it gets (the official image's name). */
export const LAB_IMAGE_TAGS = {
  traefik: "traefik:v3.7.13",
} as const;

export type LabImageName = keyof typeof LAB_IMAGE_TAGS;

/** Builds the image unless its cached build is current; returns the path of its `docker save` tarball. */
export async function ensureLabImage(name: LabImageName, log: Log = defaultLog): Promise<string> {
  const script = path.join(REPO_ROOT, "lab", "images", name, "image.sh");
  const r = await step(log, `image ${LAB_IMAGE_TAGS[name]} (built from source: ~7 min cold, ~1 s cached)`, () =>
    run("bash", [script], { inheritStderr: true }),
  );
  const tarball = r.stdout.trim().split("\n").pop() ?? "";
  if (!path.isAbsolute(tarball) || !tarball.endsWith(".tar")) {
    throw new Error(`${script} printed no tarball path on its last line: ${JSON.stringify(r.stdout.slice(-300))}`);
  }
  return tarball;
}
