/**
 * Shared test fixtures: a valid raw `homelab:` config to break one key at a time, the committed
 * stack files, freshly generated SSH keys (never a committed private key) and an ignition-validate wrapper.
 */
import { execFileSync, spawnSync } from "child_process";
import { generateKeyPairSync } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { homelabNamespace } from "../config/load";
import { ConfigError } from "../config/reader";
import { ValidationResult, validateConfig } from "../config/validate";

export const REPO_ROOT = path.resolve(__dirname, "..");

/** The raw (unvalidated) shape tests poke at; loose on purpose so a row can write any bad value. */
export interface RawNode {
  [key: string]: unknown;
}
export interface RawConfig {
  [key: string]: unknown;
  network: Record<string, unknown>;
  ssh: Record<string, unknown>;
  updates: Record<string, unknown>;
  nodes: RawNode[];
}

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * A new ed25519 public key in OpenSSH one-line form, made with node's crypto: the raw key is the
 * last 32 bytes of the SPKI DER, wrapped in the SSH wire format (string type, string key).
 */
export function newEd25519PublicKey(comment = "tester@homelab"): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}

let keygenPair: { publicKey: string; privateKey: string } | undefined;

/** A key pair from the real ssh-keygen (once per test file); the private half only ever lives in memory. */
export function sshKeygenPair(): { publicKey: string; privateKey: string } {
  if (keygenPair) return keygenPair;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-key-"));
  try {
    const file = path.join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "keygen@homelab", "-f", file]);
    keygenPair = { publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim(), privateKey: fs.readFileSync(file, "utf8") };
    return keygenPair;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One user key per test run: stable within a run, so cases can compare documents. */
export const USER_KEY = newEd25519PublicKey("owner@laptop");
/** Stands in for Pulumi's generated deploy key. */
export const DEPLOY_KEY = newEd25519PublicKey("pulumi-deploy");

/** A valid raw config like Pulumi.homelab.yaml (keys without the `homelab:` prefix), fresh on every call. */
export function validRaw(): RawConfig {
  return {
    domain: "home.arpa",
    arch: "arm64",
    network: { subnet: "192.168.99.0/24", gateway: "192.168.99.1", dns: ["192.168.99.1", "9.9.9.9"] },
    ssh: { authorizedKeys: [USER_KEY] },
    updates: { rebootStrategy: "staggered", windowStart: "03:00", windowLength: "1h" },
    nodes: [
      { name: "swarm-manager-1", role: "manager", address: "192.168.99.101" },
      { name: "swarm-manager-2", role: "manager", address: "192.168.99.102" },
      { name: "swarm-manager-3", role: "manager", address: "192.168.99.103" },
      { name: "swarm-worker-1", role: "worker", address: "192.168.99.111", zram: true },
    ],
  };
}

export const STACKS = ["homelab", "lab"] as const;
export type StackName = (typeof STACKS)[number];

export function stackFile(stack: StackName): string {
  return path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
}

/** The `homelab:` namespace of a committed stack file, as raw values (to edit before validating). */
export function stackRaw(stack: StackName): RawConfig {
  const document = YAML.parse(fs.readFileSync(stackFile(stack), "utf8")) as { config: Record<string, unknown> };
  return homelabNamespace(document.config) as RawConfig;
}

/** A committed stack validated with the user's key filled in, as an owner would have it. */
export function stackConfig(stack: StackName, edit: (raw: RawConfig) => void = () => undefined): ValidationResult {
  const raw = stackRaw(stack);
  raw.ssh.authorizedKeys = [USER_KEY];
  edit(raw);
  return validateConfig(raw);
}

/**
 * Runs the real ignition-validate on a rendered document. Returns its output: empty means valid
 * with no warnings (it prints warnings even when it exits 0, and we count those as failures).
 */
export function ignitionValidate(json: string): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-ign-"));
  try {
    const file = path.join(dir, "node.ign");
    fs.writeFileSync(file, json);
    const result = spawnSync("ignition-validate", [file], { encoding: "utf8" });
    if (result.error) throw result.error;
    return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The `key: message` lines of the ConfigError `fn` throws; none when it throws nothing. */
export function configIssues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.key}: ${i.message}`);
    throw err;
  }
  return [];
}
