/**
 * Service images for the lab, under the names the compose files use, made on this machine (no
 * registry is reachable): lab/images/<name>/image.sh builds or reuses the image on the host's
 * dockerd and saves it to a tarball in the cache, for the nodes' dockerds to load. Traefik is built
 * from source, whoami and adguardhome are STAND-INs written here (not the real software), haproxy
 * and the monitoring stack's prometheus, alertmanager and node-exporter are Debian's packages, as is
 * restic (the backup feature's). sqlite-writer is a TEST FIXTURE under a lab-only name: the
 * backup drill's SQLite writer.
 * standin is one more STAND-IN, a single program under several tags (LAB_IMAGE_EXTRA_TAGS): grafana,
 * vaultwarden, forgejo, mealie, minio, home-assistant and tailscale are not the real software in the
 * lab (AGPL, or source the Go module proxy refuses): their stacks can deploy, but no app works.
 */
import * as path from "path";
import { REPO_ROOT } from "../config";
import { run } from "../exec";
import { Log, defaultLog, step } from "../progress";

/** Each lab image and the tag it gets (the official image's name). */
export const LAB_IMAGE_TAGS = {
  traefik: "traefik:v3.7.13",
  whoami: "traefik/whoami:v1.10.3",
  haproxy: "haproxy:2.6.12",
  adguardhome: "adguard/adguardhome:v0.107.77",
  prometheus: "prom/prometheus:v2.42.0",
  alertmanager: "prom/alertmanager:v0.25.0",
  "node-exporter": "prom/node-exporter:v1.5.0",
  standin: "grafana/grafana:11.4.0",
  cadvisor: "gcr.io/cadvisor/cadvisor:v0.49.1",
  node: "node:18.20.4-bookworm-slim",
  restic: "restic/restic:0.14.0",
  "sqlite-writer": "homelab-lab/sqlite-writer:3.40.1",
} as const;

export type LabImageName = keyof typeof LAB_IMAGE_TAGS;

/**
 * The other tags of an image that carries several, all in its one tarball (lab/images/standin/
 * image.sh lists the same, with each one's ports).
 */
export const LAB_IMAGE_EXTRA_TAGS: { readonly [K in LabImageName]?: readonly string[] } = {
  standin: [
    "vaultwarden/server:1.32.7",
    "codeberg.org/forgejo/forgejo:9.0.3",
    "ghcr.io/mealie-recipes/mealie:v2.4.2",
    "minio/minio:RELEASE.2024-12-18T13-15-44Z",
    "ghcr.io/home-assistant/home-assistant:2024.12.5",
    "tailscale/tailscale:v1.78.1",
  ],
};

/** Every tag an image's tarball holds, LAB_IMAGE_TAGS's first. */
export function labImageTags(name: LabImageName): string[] {
  return [LAB_IMAGE_TAGS[name], ...(LAB_IMAGE_EXTRA_TAGS[name] ?? [])];
}

/**
 * What each image is made from and how long that takes, measured on the 2-core lab host, so that a
 * long first step reads as expected rather than hung. Cold for whoami means an empty Go build cache
 * (vet, test and build compile much of the standard library: 20 s to 100 s depending on what else
 * the host is doing); after a change to its sources it is ~15 s. Cached means the image and its
 * tarball are current.
 */
const ORIGIN: Record<LabImageName, string> = {
  traefik: "built from source: ~7 min cold, ~1 s cached",
  whoami: "STAND-IN built from lab/images/whoami: up to ~2 min cold, ~1 s cached",
  haproxy: "from Debian's haproxy package: ~3 s cold, ~1 s cached",
  adguardhome: "STAND-IN built from lab/images/adguardhome: ~1 min cold, ~1 s cached",
  prometheus: "from Debian's prometheus package: 6 to 9 s cold, ~1 s cached",
  alertmanager: "from Debian's prometheus-alertmanager package: ~9 s cold, ~1 s cached",
  "node-exporter": "from Debian's prometheus-node-exporter package: ~2 s cold, ~1 s cached",
  standin: "STAND-IN for 7 apps' tags, built from lab/images/standin: up to ~3 min cold, ~1 s cached",
  cadvisor: "the real cAdvisor v0.49.1 library with a lab-written main: ~1 min cold (~6 min with an empty Go build cache), ~1 s cached",
  node: "from Debian's nodejs package, its .debs fetched with apt-get download: ~15 s cold (~10 s of it resolving them with apt-cache), ~1 s cached",
  restic: "from Debian's restic package, with its ssh client and busybox: ~10 s cold, ~1 s cached",
  "sqlite-writer": "TEST FIXTURE of the backup drill (not an app), from Debian's sqlite3 and busybox: ~10 s cold, ~1 s cached",
};

/** Builds the image unless its cached build is current; returns the path of its `docker save` tarball. */
export async function ensureLabImage(name: LabImageName, log: Log = defaultLog): Promise<string> {
  const script = path.join(REPO_ROOT, "lab", "images", name, "image.sh");
  const r = await step(log, `image ${LAB_IMAGE_TAGS[name]} (${ORIGIN[name]})`, () =>
    run("bash", [script], { inheritStderr: true }),
  );
  const tarball = r.stdout.trim().split("\n").pop() ?? "";
  if (!path.isAbsolute(tarball) || !tarball.endsWith(".tar")) {
    throw new Error(`${script} printed no tarball path on its last line: ${JSON.stringify(r.stdout.slice(-300))}`);
  }
  return tarball;
}

/**
 * Every lab image, built or reused one after the other: the host has two cores, and Traefik's cold
 * build alone keeps both busy for minutes.
 */
export async function ensureLabImages(log: Log = defaultLog): Promise<Array<{ tags: string[]; tarball: string }>> {
  const out: Array<{ tags: string[]; tarball: string }> = [];
  for (const name of Object.keys(LAB_IMAGE_TAGS) as LabImageName[]) {
    out.push({ tags: labImageTags(name), tarball: await ensureLabImage(name, log) });
  }
  return out;
}
