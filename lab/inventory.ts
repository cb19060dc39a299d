/** The lab inventory (out/lab/inventory.json): how to reach each node over SSH. */
import * as fs from "fs";
import { LabSpec, labPaths } from "./config";

export interface InventoryNode {
  name: string;
  role: "manager" | "worker";
  address: string;
  user: "core";
  port: number;
  privateKeyPath: string;
  knownHostsPath: string;
}

export interface Inventory {
  nodes: InventoryNode[];
  knownHostsPath: string;
}

export function inventoryOf(spec: LabSpec): Inventory {
  const p = labPaths();
  return {
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      address: n.address,
      user: "core" as const,
      port: n.sshPort,
      privateKeyPath: p.privateKey,
      knownHostsPath: p.knownHosts,
    })),
    knownHostsPath: p.knownHosts,
  };
}

export function writeInventory(spec: LabSpec): Inventory {
  const inv = inventoryOf(spec);
  fs.writeFileSync(labPaths().inventory, JSON.stringify(inv, null, 2) + "\n");
  return inv;
}

/** The inventory lab:up wrote (out/lab/inventory.json). */
export function readInventory(): Inventory {
  const file = labPaths().inventory;
  if (!fs.existsSync(file)) throw new Error(`${file} missing: run npm run lab:up first`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Inventory;
}
