/** Where the lab keeps things, and the nodes it simulates (read from the lab stack config). */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

export const REPO_ROOT = path.resolve(__dirname, "..");

export interface LabNodeSpec {
  name: string;
  role: "manager" | "worker";
  address: string;
}

export interface LabSpec {
  configPath: string;
  subnet: string;
  gateway: string;
  nodes: LabNodeSpec[];
}

/** Paths and names, all overridable by environment for parallel/CI use. */
export function labPaths() {
  const out = path.resolve(REPO_ROOT, process.env.HOMELAB_LAB_OUT ?? "out/lab");
  const state = process.env.HOMELAB_LAB_STATE ?? "/var/lib/homelab-lab";
  return {
    out,
    sshDir: path.join(out, "ssh"),
    privateKey: path.join(out, "ssh", "id_ed25519"),
    publicKey: path.join(out, "ssh", "id_ed25519.pub"),
    knownHosts: path.join(out, "ssh", "known_hosts"),
    inventory: path.join(out, "inventory.json"),
    /** The Ignition files the nodes were provisioned with (after the lab key was merged in). */
    provisioned: path.join(out, "provisioned"),
    /** Host-side data of the nodes (their /var/lib/docker); outside the work tree. */
    state,
    cache: process.env.HOMELAB_LAB_CACHE ?? "/var/cache/homelab-lab",
    imageDir: path.join(REPO_ROOT, "lab", "image"),
    configPath: path.resolve(REPO_ROOT, process.env.HOMELAB_LAB_CONFIG ?? "Pulumi.lab.yaml"),
  };
}

export const LAB = {
  network: "homelab-lab",
  bridge: "hl-lab0",
  imageRepo: "homelab-lab-node",
  containerPrefix: "hl-lab-",
  label: "homelab.lab",
  chainIn: "HOMELAB-LAB-IN",
  chainFwd: "HOMELAB-LAB-FWD",
};

export const containerName = (node: string) => `${LAB.containerPrefix}${node}`;

/** Reads node names, roles and addresses from the lab stack config (Pulumi.lab.yaml). */
export function loadLabSpec(configPath = labPaths().configPath): LabSpec {
  const doc = parse(fs.readFileSync(configPath, "utf8")) as { config?: Record<string, unknown> };
  const cfg = doc?.config ?? {};
  const get = (k: string) => cfg[`homelab:${k}`];
  const network = get("network") as { subnet?: string; gateway?: string } | undefined;
  const nodes = get("nodes") as Array<{ name?: string; role?: string; address?: string }> | undefined;
  if (!network?.subnet || !network?.gateway) throw new Error(`${configPath}: homelab:network.subnet/gateway missing`);
  if (!Array.isArray(nodes) || nodes.length === 0) throw new Error(`${configPath}: homelab:nodes missing`);
  const specs = nodes.map((n, i) => {
    if (!n.name || !n.address) throw new Error(`${configPath}: node ${i} needs name and address`);
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(n.name)) throw new Error(`${configPath}: bad node name ${n.name}`);
    const role = n.role ?? "worker";
    if (role !== "manager" && role !== "worker") throw new Error(`${configPath}: node ${n.name}: bad role ${role}`);
    return { name: n.name, role, address: n.address } as LabNodeSpec;
  });
  return { configPath, subnet: network.subnet, gateway: network.gateway, nodes: specs };
}
