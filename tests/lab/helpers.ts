/** Shared helpers for the lab end-to-end tests. */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { parse } from "yaml";
import { labPaths, loadLabSpec } from "../../lab/config";
import { Inventory, InventoryNode, labUp, sshExec } from "../../lab/lab";

/** Brings the lab up (seconds when it already runs) with progress going to stderr. */
export async function ensureLab(): Promise<Inventory> {
  return labUp({ log: (l) => process.stderr.write(`[lab] ${l}\n`) });
}

/** Runs a command as core over SSH and fails the test with its output if it exits non-zero. */
export async function ssh(node: InventoryNode | string, command: string): Promise<string> {
  const r = await sshExec(typeof node === "string" ? node : node, command);
  if (r.code !== 0) {
    const name = typeof node === "string" ? node : node.name;
    throw new Error(`ssh ${name} '${command}' exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout.trim();
}

/** Node labels from the lab stack config (the inventory keeps only what SSH needs). */
export function nodeLabels(): Record<string, Record<string, string>> {
  const doc = parse(fs.readFileSync(loadLabSpec().configPath, "utf8")) as {
    config: Record<string, Array<{ name: string; labels?: Record<string, string> }>>;
  };
  return Object.fromEntries((doc.config["homelab:nodes"] ?? []).map((n) => [n.name, n.labels ?? {}]));
}

export interface IgnitionFile {
  path: string;
  mode?: number;
  contents: Buffer;
}

interface RawIgnition {
  storage?: {
    files?: Array<{ path: string; mode?: number; contents?: { source?: string; compression?: string } }>;
    links?: Array<{ path: string; target: string }>;
    directories?: Array<{ path: string }>;
  };
  systemd?: { units?: Array<{ name: string; enabled?: boolean; mask?: boolean; contents?: string; dropins?: Array<{ name: string; contents?: string }> }> };
}

function decodeDataUrl(source: string, compression?: string): Buffer {
  const m = source.match(/^data:([^,]*),(.*)$/s);
  if (!m) throw new Error(`not a data URL: ${source.slice(0, 40)}`);
  let buf = m[1].endsWith(";base64") ? Buffer.from(m[2], "base64") : Buffer.from(decodeURIComponent(m[2]), "utf8");
  if (compression === "gzip") buf = zlib.gunzipSync(buf);
  return buf;
}

/** The Ignition config a node was provisioned with (what lab:up mounted into it). */
export function provisionedIgnition(node: string): {
  files: IgnitionFile[];
  links: Array<{ path: string; target: string }>;
  units: NonNullable<NonNullable<RawIgnition["systemd"]>["units"]>;
} {
  const raw = JSON.parse(fs.readFileSync(path.join(labPaths().provisioned, `${node}.ign`), "utf8")) as RawIgnition;
  return {
    files: (raw.storage?.files ?? [])
      .filter((f) => f.contents?.source !== undefined)
      .map((f) => ({ path: f.path, mode: f.mode, contents: decodeDataUrl(f.contents!.source!, f.contents!.compression) })),
    links: raw.storage?.links ?? [],
    units: raw.systemd?.units ?? [],
  };
}

export const seconds = (t0: number) => (Date.now() - t0) / 1000;
