/** Ignition for the lab nodes: each node's config, with the lab SSH key merged in for core. */
import * as fs from "fs";
import * as path from "path";
import { LabSpec, REPO_ROOT, labPaths } from "./config";
import { run } from "./exec";
import { Log } from "./progress";

interface IgnitionConfig {
  ignition?: { version?: string };
  passwd?: { users?: Array<{ name: string; sshAuthorizedKeys?: string[]; [k: string]: unknown }> };
  [k: string]: unknown;
}

/** Returns a copy of `config` whose user `core` also trusts `publicKey` (added once). */
export function withLabKey(config: IgnitionConfig, publicKey: string): IgnitionConfig {
  const copy = JSON.parse(JSON.stringify(config)) as IgnitionConfig;
  copy.passwd ??= {};
  copy.passwd.users ??= [];
  let core = copy.passwd.users.find((u) => u.name === "core");
  if (!core) {
    core = { name: "core" };
    copy.passwd.users.push(core);
  }
  const keys = core.sshAuthorizedKeys ?? [];
  const keyBody = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
  if (!keys.some((k) => keyBody(k) === keyBody(publicKey))) keys.push(publicKey.trim());
  core.sshAuthorizedKeys = keys;
  return copy;
}

/**
 * Produces the Ignition file each node is provisioned with, in out/lab/provisioned/<node>.ign:
 * rendered by bin/render.ts from the lab stack config, or taken from `ignitionDir` (a COPY, with
 * the lab key merged into core's sshAuthorizedKeys so the inventory works).
 */
export async function prepareIgnition(spec: LabSpec, ignitionDir: string | undefined, log: Log): Promise<void> {
  const p = labPaths();
  let sourceDir: string;
  if (ignitionDir) {
    sourceDir = path.resolve(ignitionDir);
    log(`using pre-rendered Ignition from ${sourceDir} (lab key merged into a copy)`);
  } else {
    const renderer = path.join(REPO_ROOT, "bin", "render.ts");
    await run(
      path.join(REPO_ROOT, "node_modules", ".bin", "ts-node"),
      ["--transpile-only", renderer, "--config", spec.configPath, "--out", p.out, "--authorized-key-file", p.publicKey],
      { cwd: REPO_ROOT },
    );
    sourceDir = path.join(p.out, "ignition");
  }
  const publicKey = fs.readFileSync(p.publicKey, "utf8");
  fs.mkdirSync(p.provisioned, { recursive: true });
  for (const node of spec.nodes) {
    const src = path.join(sourceDir, `${node.name}.ign`);
    if (!fs.existsSync(src)) throw new Error(`no Ignition file for ${node.name}: ${src}`);
    const config = JSON.parse(fs.readFileSync(src, "utf8")) as IgnitionConfig;
    const merged = withLabKey(config, publicKey);
    fs.writeFileSync(path.join(p.provisioned, `${node.name}.ign`), JSON.stringify(merged, null, 2) + "\n");
  }
}
