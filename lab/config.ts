/** Where the lab keeps things, and the nodes it simulates (read from the lab stack config). */
import * as path from "path";
import { loadStackConfigFile } from "../config/load";

export const REPO_ROOT = path.resolve(__dirname, "..");

export interface LabNodeSpec {
  name: string;
  role: "manager" | "worker";
  address: string;
  sshPort: number;
  labels: Record<string, string>;
  availability: "active" | "pause" | "drain";
}

export interface LabSpec {
  configPath: string;
  subnet: string;
  gateway: string;
  /** How long to wait for a node's SSH (homelab:ssh.waitMinutes). */
  sshWaitMs: number;
  nodes: LabNodeSpec[];
}

/** Where the lab keeps its files; HOMELAB_LAB_OUT, _STATE, _CACHE and _CONFIG move them (e.g. for CI). */
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

/** Reads the lab's nodes from the lab stack config with the project's own loader (validated). */
export function loadLabSpec(configPath = labPaths().configPath): LabSpec {
  const { config } = loadStackConfigFile(configPath);
  return {
    configPath,
    subnet: config.network.subnet,
    gateway: config.network.gateway,
    sshWaitMs: config.ssh.waitMinutes * 60000,
    nodes: config.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      address: n.address,
      sshPort: n.sshPort,
      labels: { ...n.labels },
      availability: n.availability,
    })),
  };
}
