/**
 * The lab: a simulated Flatcar Swarm cluster on this machine, one container per node (the kind/k3d
 * way). Each node boots a Debian image made to look like Flatcar where we rely on it, applies its
 * Ignition file with the real Ignition engine at start, then runs systemd as PID 1.
 *
 * This is the lab's public entry, for jest tests and scripts: labUp, labDown, rebuildNode, stopNode,
 * startNode, readInventory, sshExec, nodeExec. The parts live beside it: progress.ts (timed steps),
 * lock.ts (one lab operation at a time), host.ts (host dockerd), image.ts (node image), ignition.ts
 * (each node's Ignition), network.ts (bridge and firewall), nodes.ts (node containers), ssh.ts (lab
 * key, known_hosts, SSH readiness), inventory.ts (out/lab/inventory.json).
 */
import * as fs from "fs";
import { LAB, containerName, labPaths, loadLabSpec } from "./config";
import { CommandError, run } from "./exec";
import { docker, ensureHost } from "./host";
import { ensureImage } from "./image";
import { ensureLabImages } from "./images";
import { loadImagesIntoNode } from "./images/load";
import { prepareIgnition } from "./ignition";
import { Inventory, InventoryNode, inventoryOf, writeInventory } from "./inventory";
import { withLabLock } from "./lock";
import { ensureFirewall, ensureNetwork, removeFirewall } from "./network";
import { createNode, ensureNode, inspectContainer, nodeSpec, provisionedFile, removeContainers, wipeNode } from "./nodes";
import { Log, defaultLog, step } from "./progress";
import { ensureKey, sshBudgetMs, waitForNode } from "./ssh";

export type { Inventory, InventoryNode } from "./inventory";
export { ensureHost } from "./host";
export { ensureImage, imageTag } from "./image";
export { withLabKey } from "./ignition";
export { readInventory } from "./inventory";
export { nodeExec } from "./nodes";
export { sshExec } from "./ssh";

export interface LabUpOptions {
  /** Use `<dir>/<node>.ign` instead of rendering (default: env HOMELAB_LAB_IGNITION_DIR). */
  ignitionDir?: string;
  /** Progress output (default: stderr). */
  log?: (line: string) => void;
  /**
   * Also build (or reuse) the service images of lab/images and load them into every node, after
   * the nodes answer SSH (a cold Traefik build takes minutes; nothing waits for it to boot).
   */
  serviceImages?: boolean;
}

/**
 * Starts every lab node (idempotent: running nodes with the same image and Ignition are kept),
 * waits until each answers SSH as core with the lab key, and writes out/lab/inventory.json.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<Inventory> {
  return withLabLock(() => labUpLocked(opts));
}

async function labUpLocked(opts: LabUpOptions): Promise<Inventory> {
  const log = opts.log ?? defaultLog;
  const t0 = Date.now();
  const spec = loadLabSpec();
  const ignitionDir = opts.ignitionDir ?? (process.env.HOMELAB_LAB_IGNITION_DIR || undefined);
  await step(log, "host docker", () => ensureHost(log));
  const image = await step(log, "node image", () => ensureImage(log));
  await step(log, "lab SSH key", ensureKey);
  await step(log, ignitionDir ? "Ignition (pre-rendered)" : "Ignition (render)", () => prepareIgnition(spec, ignitionDir, log));
  await step(log, "network and firewall", async () => {
    await ensureNetwork(spec);
    await ensureFirewall();
  });
  await step(log, `nodes (${spec.nodes.map((n) => n.name).join(", ")})`, async () => {
    const results = await Promise.all(spec.nodes.map((n) => ensureNode(n, image)));
    spec.nodes.forEach((n, i) => log(`  ${n.name}: ${results[i]}`));
  });
  await step(log, "SSH as core on every node", () => Promise.all(spec.nodes.map((n) => waitForNode(n, sshBudgetMs(spec)))));
  if (opts.serviceImages) await loadServiceImages(spec.nodes.map((n) => n.name), log);
  const inv = writeInventory(spec);
  log(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s; inventory: ${labPaths().inventory}`);
  return inv;
}

/** The lab's service images (lab/images), built or reused, in each of `nodes`. */
async function loadServiceImages(nodes: readonly string[], log: Log): Promise<void> {
  const images = await ensureLabImages(log);
  await step(log, `service images into ${nodes.join(", ")}`, async () => {
    const loaded = await Promise.all(nodes.map((n) => loadImagesIntoNode(n, images)));
    nodes.forEach((n, i) => log(`  ${n}: ${loaded[i].length ? `loaded ${loaded[i].join(", ")}` : "all current"}`));
  });
}

/**
 * Removes everything labUp made: containers, network (and its bridge), firewall chains, node data,
 * out/lab. Idempotent. The node image and the .deb cache stay unless `purge`.
 */
export async function labDown(opts: { purge?: boolean; log?: Log } = {}): Promise<void> {
  return withLabLock(() => labDownLocked(opts));
}

async function labDownLocked(opts: { purge?: boolean; log?: Log }): Promise<void> {
  const log = opts.log ?? defaultLog;
  const p = labPaths();
  const t0 = Date.now();
  const dockerUp = (await docker(["info", "--format", "{{.ServerVersion}}"], { allowFail: true, timeoutMs: 20000 })).code === 0;
  if (dockerUp) {
    await step(log, "containers", removeContainers);
    await step(log, "network", async () => {
      await docker(["network", "rm", LAB.network], { allowFail: true });
    });
  } else {
    log("host dockerd not running: no containers or docker networks to remove");
  }
  await step(log, "firewall and bridge", async () => {
    await removeFirewall();
    if ((await run("ip", ["link", "show", LAB.bridge], { allowFail: true })).code === 0) {
      await run("ip", ["link", "del", LAB.bridge], { allowFail: true });
    }
  });
  await step(log, "node data and out/lab", async () => {
    fs.rmSync(p.state, { recursive: true, force: true });
    fs.rmSync(p.out, { recursive: true, force: true });
  });
  if (opts.purge) {
    await step(log, "purge image and cache", async () => {
      if (dockerUp) {
        const imgs = await docker(["images", "-q", "--filter", `label=${LAB.label}=node`]);
        const ids = [...new Set(imgs.stdout.split("\n").filter(Boolean))];
        if (ids.length) await docker(["rmi", "-f", ...ids], { allowFail: true });
      }
      fs.rmSync(p.cache, { recursive: true, force: true });
    });
  }
  log(`lab down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Rebuilds one node as if re-flashed: removes its container, wipes its data (root and
 * /var/lib/docker), provisions it again from its Ignition file, waits for SSH, refreshes known_hosts.
 * The node gets a new machine-id and new SSH host keys.
 */
export async function rebuildNode(name: string, opts: { log?: Log; serviceImages?: boolean } = {}): Promise<InventoryNode> {
  const log = opts.log ?? (() => undefined);
  const { spec, node } = nodeSpec(name);
  if (!fs.existsSync(provisionedFile(name))) throw new Error(`${provisionedFile(name)} missing: run lab:up first`);
  await withLabLock(async () => {
    const image = await ensureImage(log);
    await step(log, `rebuild ${name}`, async () => {
      await wipeNode(name);
      await createNode(node, image);
      await waitForNode(node, sshBudgetMs(spec));
    });
    if (opts.serviceImages) await loadServiceImages([name], log);
  });
  return inventoryOf(spec).nodes.find((n) => n.name === name)!;
}

/** Stops a node (clean systemd shutdown) without wiping anything; its address stops answering. */
export async function stopNode(name: string): Promise<void> {
  nodeSpec(name);
  await docker(["stop", containerName(name)]);
}

/** Starts a stopped node again (Ignition does not run again) and waits for SSH. */
export async function startNode(name: string): Promise<void> {
  const { spec, node } = nodeSpec(name);
  const st = await inspectContainer(name);
  if (!st) throw new Error(`node ${name} has no container: run lab:up or rebuildNode`);
  if (!st.running) await docker(["start", containerName(name)]);
  await waitForNode(node, sshBudgetMs(spec));
}

export { CommandError, loadLabSpec, labPaths, containerName };
