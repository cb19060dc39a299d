/**
 * Drives the real Pulumi CLI against the lab: the `lab` stack (Pulumi.lab.yaml), offline (local
 * file backend, passphrase secrets from a file, no update check, no plugin downloads).
 *
 * The stack runs from a working copy of the program in out/lab-stack/project: `pulumi stack init`
 * writes the passphrase's salt into the stack config file, and that must not dirty the checkout.
 * The copy is refreshed on every run, so it always runs the program this checkout holds.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { REPO_ROOT, loadLabSpec } from "./config";
import { RunResult, run, sleep } from "./exec";
import { ensureLabImages } from "./images";
import { Inventory, ensureHost, ensureImage, labUp } from "./lab";

export const STACK = "lab";
export const PROGRAM_FILES = ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json"];
export const PROGRAM_DIRS = ["components", "compose", "routing", "config", "gitops", "ignition", "monitoring", "services", "stacks", "swarm"];

export function stackPaths() {
  const root = path.join(REPO_ROOT, "out", "lab-stack");
  const project = path.join(root, "project");
  return {
    root,
    project,
    backend: path.join(root, "backend"),
    home: path.join(root, "pulumi-home"),
    passphraseFile: path.join(root, "passphrase"),
    stackConfig: path.join(project, `Pulumi.${STACK}.yaml`),
    ignitionDir: path.join(project, "out", "stacks", STACK, "ignition"),
  };
}

type Log = (line: string) => void;

/**
 * Copies the program (this checkout's, or another revision's extracted to programRoot) into the
 * working copy, with this checkout's stack config, keeping the stack's encryption salt.
 */
export function refreshWorkingCopy(programRoot: string = REPO_ROOT): void {
  const p = stackPaths();
  fs.mkdirSync(p.project, { recursive: true });
  for (const dir of PROGRAM_DIRS) {
    fs.rmSync(path.join(p.project, dir), { recursive: true, force: true });
    // An older revision may lack a folder (compose/ came later).
    if (!fs.existsSync(path.join(programRoot, dir))) continue;
    fs.cpSync(path.join(programRoot, dir), path.join(p.project, dir), {
      recursive: true,
      filter: (src) => !src.endsWith(".test.ts") && !src.includes("__snapshots__"),
    });
  }
  for (const file of PROGRAM_FILES) {
    fs.rmSync(path.join(p.project, file), { force: true });
    // An older revision may lack a file.
    if (fs.existsSync(path.join(programRoot, file))) fs.copyFileSync(path.join(programRoot, file), path.join(p.project, file));
  }
  const modules = path.join(p.project, "node_modules");
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), modules);
  const salt = fs.existsSync(p.stackConfig) ? /^encryptionsalt: .*$/m.exec(fs.readFileSync(p.stackConfig, "utf8"))?.[0] : undefined;
  const committed = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${STACK}.yaml`), "utf8");
  fs.writeFileSync(p.stackConfig, salt ? `${committed.trimEnd()}\n${salt}\n` : committed);
}

/**
 * Edits the working copy's stack config (e.g. drop a node), keeping its salt. Tests use it to
 * change the cluster the way an owner would; refreshWorkingCopy() puts the committed config back.
 */
export function editStackConfig(edit: (config: Record<string, unknown>) => void): void {
  const file = stackPaths().stackConfig;
  const document = YAML.parseDocument(fs.readFileSync(file, "utf8"));
  const config = (document.toJS() as { config: Record<string, unknown> }).config;
  edit(config);
  document.set("config", config);
  fs.writeFileSync(file, document.toString());
}

/**
 * Where `pulumi` is: $HOMELAB_PULUMI_BIN (plugins then found on PATH), else `npm run toolchain`'s
 * last line, with the provider plugins installed into the lab's own PULUMI_HOME (so the CLI does
 * not warn about ambient plugins on every run).
 */
export async function toolchainBin(log: Log, home: string = stackPaths().home): Promise<{ bin: string; pluginsInstalled: boolean }> {
  if (process.env.HOMELAB_PULUMI_BIN) return { bin: process.env.HOMELAB_PULUMI_BIN, pluginsInstalled: false };
  log("toolchain: npm run toolchain (builds the Pulumi CLI and plugins once, then cached)");
  fs.mkdirSync(home, { recursive: true });
  const result = await run("bash", [path.join(REPO_ROOT, "toolchain", "build.sh"), "--install-plugins"], {
    inheritStderr: true,
    env: { ...process.env, PULUMI_HOME: home },
  });
  const lines = result.stdout.trim().split("\n");
  return { bin: lines[lines.length - 1], pluginsInstalled: true };
}

/**
 * The offline environment every pulumi command runs with. The passphrase stays in a 0600 file.
 * `p`: the lab stack's folders, or a test's own (its backend, PULUMI_HOME and passphrase file).
 */
export function pulumiEnv(bin: string, pluginsInstalled: boolean, p: Pick<ReturnType<typeof stackPaths>, "backend" | "home" | "passphraseFile"> = stackPaths()): NodeJS.ProcessEnv {
  fs.mkdirSync(p.backend, { recursive: true });
  fs.mkdirSync(p.home, { recursive: true });
  if (!fs.existsSync(p.passphraseFile)) {
    fs.writeFileSync(p.passphraseFile, crypto.randomBytes(24).toString("base64"), { mode: 0o600 });
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    PULUMI_HOME: p.home,
    PULUMI_BACKEND_URL: `file://${p.backend}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: p.passphraseFile,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    // `npm test` type-checks the program; the engine need not do it again on every run.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  };
  if (pluginsInstalled) env.PULUMI_IGNORE_AMBIENT_PLUGINS = "true";
  delete env.PULUMI_CONFIG_PASSPHRASE;
  delete env.PULUMI_ACCESS_TOKEN;
  return env;
}

export interface Pulumi {
  (args: string[], opts?: { allowFail?: boolean; stream?: boolean; inherit?: boolean; input?: string }): Promise<RunResult>;
}

/** A pulumi runner for the lab stack; creates the stack on first use. */
export async function labPulumi(log: Log): Promise<Pulumi> {
  const { bin, pluginsInstalled } = await toolchainBin(log);
  refreshWorkingCopy();
  const env = pulumiEnv(bin, pluginsInstalled);
  const p = stackPaths();
  const pulumi: Pulumi = (args, opts = {}) =>
    run("pulumi", [...args, "--stack", STACK, "--non-interactive", "--color", "never"], {
      cwd: p.project,
      env,
      allowFail: opts.allowFail,
      // A secret's value goes on stdin (`pulumi config set --secret KEY` reads it there), never in args.
      input: opts.input,
      inheritStderr: opts.stream || opts.inherit,
      inheritStdout: opts.inherit,
      teeStdout: opts.stream,
    });
  const exists = await run("pulumi", ["stack", "ls", "--json"], { cwd: p.project, env });
  if (!(JSON.parse(exists.stdout) as { name: string }[]).some((s) => s.name === STACK)) {
    log(`creating stack ${STACK} (local backend ${p.backend})`);
    await run("pulumi", ["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"], { cwd: p.project, env });
  }
  return pulumi;
}

/**
 * `pulumi up` while the lab boots from the Ignition files that very run writes: the same order as
 * on real Pis, where the owner flashes cards while `pulumi up` waits for SSH.
 */
export async function upWithLab(
  pulumi: Pulumi,
  log: Log,
  opts: { extraArgs?: string[]; stream?: boolean } = {},
): Promise<{ up: RunResult; inventory: Inventory }> {
  const p = stackPaths();
  // Images first: the node image's build (1-2 min) or Traefik's (minutes) must not eat into the
  // time pulumi up waits for the nodes to answer (homelab:ssh.waitMinutes).
  await ensureHost(log);
  await ensureImage(log);
  await ensureLabImages(log);
  const up = pulumi(["up", "--yes", "--skip-preview", ...(opts.extraArgs ?? [])], { allowFail: true, stream: opts.stream });
  let settled = false;
  void up.then(() => (settled = true));
  const { nodes } = loadLabSpec();
  const files = nodes.map((n) => path.join(p.ignitionDir, `${n.name}.ign`));
  while (!files.every((f) => fs.existsSync(f))) {
    if (settled) break;
    await sleep(200);
  }
  if (settled) {
    const result = await up;
    throw new Error(`pulumi up ended before writing the Ignition files:\n${result.stdout}\n${result.stderr}`);
  }
  log("Ignition files written by pulumi up; booting the lab from them");
  const inventory = await labUp({ ignitionDir: p.ignitionDir, log, serviceImages: true });
  const result = await up;
  if (result.code !== 0) throw new Error(`pulumi up failed (exit ${result.code}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  return { up: result, inventory };
}
