/**
 * The GitOps runner's real tools (gitops/run.ts decides, this file acts): git through the `git`
 * binary, Pulumi through the `pulumi` CLI, ntfy over HTTP. Every command gets its arguments as an
 * array (no shell), and secrets only as paths to files: the deploy key through GIT_SSH_COMMAND's
 * `-i`, a token through a GIT_ASKPASS script that reads its file, the passphrase through the
 * PULUMI_CONFIG_PASSPHRASE_FILE the runner was started with.
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { PreviewJson } from "./gate";
import { Commit, GitOpsTools, Notification, PreviewOutcome, PreviousOutputs, UpOutcome } from "./run";

export interface RunnerConfig {
  /** The homelab's repository: `ssh://`, `git@host:path`, `https://` or a local path. */
  readonly repository: string;
  readonly branch: string;
  readonly stack: string;
  /** Seconds between polls of the branch. */
  readonly intervalSeconds: number;
  /** Where the clone, the dependency cache and the status live (the runner's volume). */
  readonly workDir: string;
  readonly listenPort: number;
  /** The `pulumi` binary (default: the one on PATH). */
  readonly pulumiBin?: string;
  /** The stack's state backend (PULUMI_BACKEND_URL); absent: the one the environment or `pulumi login` gives. */
  readonly backend?: string;
  /** The ntfy server (`http://ntfy:80`); reports are not sent without it and a topic. */
  readonly ntfyServer?: string;
  readonly secrets: {
    readonly webhookSecretFile?: string;
    readonly statusTokenFile: string;
    readonly gitSshKeyFile?: string;
    readonly gitKnownHostsFile?: string;
    readonly gitTokenFile?: string;
    readonly ntfyTopicFile?: string;
  };
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without a shell; `onLine` sees stdout and stderr lines as they come (progress). */
export function runCommand(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const lines = (chunk: string, carry: { rest: string }) => {
      if (!opts.onLine) return;
      const parts = (carry.rest + chunk).split("\n");
      carry.rest = parts.pop() ?? "";
      for (const line of parts) if (line.trim()) opts.onLine(line);
    };
    const outCarry = { rest: "" };
    const errCarry = { rest: "" };
    child.stdout.setEncoding("utf8").on("data", (c: string) => ((stdout += c), lines(c, outCarry)));
    child.stderr.setEncoding("utf8").on("data", (c: string) => ((stderr += c), lines(c, errCarry)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const tail = (text: string, lines = 15) => text.trim().split("\n").slice(-lines).join("\n");

/** The lock message `pulumi up` gives: `... created by user@host (pid N) at T`. */
export function lockHolder(output: string): string | undefined {
  if (!/the stack is currently locked/.test(output)) return undefined;
  return /created by (\S+) \(pid \d+\)/.exec(output)?.[1] ?? "someone";
}

/** The commit the last successful update ran from, from `pulumi stack history --json` (undefined when it ran from a dirty tree). */
export function lastAppliedCommit(historyJson: string): string | undefined {
  const updates = JSON.parse(historyJson || "[]") as { kind?: string; result?: string; environment?: Record<string, string> }[];
  const last = updates.find((u) => u.kind === "update" && u.result === "succeeded");
  if (!last?.environment || last.environment["git.dirty"] === "true") return undefined;
  return last.environment["git.head"];
}

/** The gate's inputs from `pulumi stack output --json` (absent outputs: none). */
export function parseOutputs(json: string): PreviousOutputs {
  const outputs = JSON.parse(json || "{}") as Record<string, unknown>;
  const names = (value: unknown) => (value && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : []);
  const stateful = Array.isArray(outputs.statefulStacks) ? outputs.statefulStacks.filter((s): s is string => typeof s === "string") : [];
  return { statefulStacks: stateful, nodes: [...new Set([...names(outputs.swarmMembers), ...names(outputs.nodes)])] };
}

/**
 * The pending creates a successful up made moot: a run cut short (the runner killed, a node losing
 * power) leaves the create it was in as a pending operation in the state, and Pulumi keeps it until
 * someone clears it interactively. Once an up has created that same resource again, the operation
 * describes nothing: dropping exactly those leaves every other pending operation for the owner.
 */
export function withoutMootPendingCreates(deployment: { resources?: { urn: string }[]; pending_operations?: { type: string; resource: { urn: string } }[] }): { changed: boolean; dropped: string[] } {
  const present = new Set((deployment.resources ?? []).map((r) => r.urn));
  const pending = deployment.pending_operations ?? [];
  const kept = pending.filter((op) => !(op.type === "creating" && present.has(op.resource.urn)));
  const dropped = pending.filter((op) => !kept.includes(op)).map((op) => op.resource.urn);
  deployment.pending_operations = kept;
  return { changed: dropped.length > 0, dropped };
}

export class RealTools implements GitOpsTools {
  /** Set by the runner when its last run was cut short: the next up may release that run's lock. */
  releaseOwnLockOnce = false;
  private readonly repoDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly pulumiBin: string;

  constructor(
    private readonly config: RunnerConfig,
    readonly log: (line: string) => void,
    private readonly hostname: string,
  ) {
    this.repoDir = path.join(config.workDir, "repo");
    this.pulumiBin = config.pulumiBin ?? "pulumi";
    this.env = { ...process.env, ...this.gitEnv(), ...(config.backend ? { PULUMI_BACKEND_URL: config.backend } : {}), PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_SKIP_CONFIRMATIONS: "true" };
  }

  private gitEnv(): NodeJS.ProcessEnv {
    const s = this.config.secrets;
    const env: NodeJS.ProcessEnv = { GIT_TERMINAL_PROMPT: "0" };
    if (s.gitSshKeyFile) {
      const knownHosts = s.gitKnownHostsFile ? `-o UserKnownHostsFile=${s.gitKnownHostsFile} -o StrictHostKeyChecking=yes` : "-o StrictHostKeyChecking=yes";
      env.GIT_SSH_COMMAND = `ssh -i ${s.gitSshKeyFile} -o IdentitiesOnly=yes ${knownHosts}`;
    }
    if (s.gitTokenFile) {
      const askpass = path.join(this.config.workDir, "askpass.sh");
      fs.mkdirSync(this.config.workDir, { recursive: true });
      // The token stays in its file: git asks this script, which prints it to git alone.
      fs.writeFileSync(askpass, `#!/bin/sh\ncase "$1" in Username*) echo x-access-token ;; *) cat '${s.gitTokenFile}' ;; esac\n`, { mode: 0o700 });
      env.GIT_ASKPASS = askpass;
    }
    return env;
  }

  private async git(args: readonly string[], cwd = this.repoDir): Promise<string> {
    const r = await runCommand("git", args, { cwd, env: this.env });
    if (r.code !== 0) throw new Error(`git ${args[0]} failed (exit ${r.code}): ${tail(r.stderr, 5)}. Check homelab:platform.gitops.repository and the deploy key or token.`);
    return r.stdout.trim();
  }

  private pulumi(args: readonly string[], onLine?: (line: string) => void): Promise<CommandResult> {
    // No colour codes: the output goes into logs, ntfy messages and the status.
    return runCommand(this.pulumiBin, [...args, "--stack", this.config.stack, "--non-interactive", "--color", "never"], { cwd: this.repoDir, env: this.env, onLine });
  }

  async fetch(): Promise<Commit> {
    if (!fs.existsSync(path.join(this.repoDir, ".git"))) {
      fs.rmSync(this.repoDir, { recursive: true, force: true });
      fs.mkdirSync(this.repoDir, { recursive: true });
      await this.git(["init", "--quiet"]);
      await this.git(["remote", "add", "origin", this.config.repository]);
    }
    await this.git(["fetch", "--quiet", "--prune", "origin", `+refs/heads/${this.config.branch}:refs/remotes/origin/${this.config.branch}`]);
    const commit = await this.git(["rev-parse", `refs/remotes/origin/${this.config.branch}^{commit}`]);
    const subject = await this.git(["log", "-1", "--format=%s", commit]);
    return { commit, subject };
  }

  async checkout(commit: string): Promise<void> {
    await this.git(["checkout", "--quiet", "--force", "--detach", commit]);
    await this.git(["clean", "-ffdxq", "-e", "/node_modules"]);
    await this.dependencies();
  }

  /** node_modules from a cache keyed by the lockfile's hash: `npm ci` only when the lockfile changed. */
  private async dependencies(): Promise<void> {
    const lock = path.join(this.repoDir, "package-lock.json");
    if (!fs.existsSync(lock)) throw new Error("the repository has no package-lock.json at this commit. Fix: commit the lockfile (npm install writes it).");
    const hash = crypto.createHash("sha256").update(fs.readFileSync(lock)).digest("hex").slice(0, 16);
    const cached = path.join(this.config.workDir, "modules", hash, "node_modules");
    const link = path.join(this.repoDir, "node_modules");
    if (!fs.existsSync(cached)) {
      this.log(`dependencies changed (lockfile ${hash}): npm ci`);
      fs.rmSync(link, { recursive: true, force: true });
      const r = await runCommand("npm", ["ci", "--no-audit", "--no-fund"], { cwd: this.repoDir, env: this.env, onLine: (l) => this.log(`npm: ${l}`) });
      if (r.code !== 0) throw new Error(`npm ci failed (exit ${r.code}): ${tail(r.stderr, 5)}`);
      fs.mkdirSync(path.dirname(cached), { recursive: true });
      fs.renameSync(link, cached);
    }
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(cached, link);
  }

  async lastApplied(): Promise<string | undefined> {
    const r = await this.pulumi(["stack", "history", "--json", "--page-size", "20"]);
    if (r.code !== 0) {
      this.log(`pulumi stack history failed (exit ${r.code}): ${tail(r.stderr, 3)}`);
      return undefined;
    }
    return lastAppliedCommit(r.stdout);
  }

  async previousOutputs(): Promise<PreviousOutputs> {
    const r = await this.pulumi(["stack", "output", "--json"]);
    return parseOutputs(r.code === 0 ? r.stdout : "{}");
  }

  async preview(): Promise<PreviewOutcome> {
    const r = await this.pulumi(["preview", "--json"]);
    let json: PreviewJson | undefined;
    try {
      json = JSON.parse(r.stdout) as PreviewJson;
    } catch {
      json = undefined;
    }
    return { exitCode: r.code, json, stderr: r.stderr };
  }

  async up(commit: string): Promise<UpOutcome> {
    const attempt = () => this.pulumi(["up", "--yes", "--skip-preview", "--message", `gitops: ${commit}`], (line) => this.log(`up: ${line}`));
    let r = await attempt();
    const holder = lockHolder(r.stdout + r.stderr);
    // A lock of this runner's own host, when its last run was cut short, is that run's: no
    // process holds it any more (gitops/takeover.ts: no other runner of this work folder lives),
    // and the state it left is what this up completes. Any other lock is someone's live run, even
    // from this host (the owner's own pulumi up on the same machine).
    const cutShort = this.releaseOwnLockOnce;
    this.releaseOwnLockOnce = false;
    if (holder && cutShort && holder.endsWith(`@${this.hostname}`)) {
      this.log(`the stack is locked by ${holder}, an earlier run of this runner that was cut short: releasing its lock (pulumi cancel)`);
      const cancel = await this.pulumi(["cancel", "--yes"]);
      if (cancel.code !== 0) return { exitCode: cancel.code, tail: `pulumi cancel failed: ${tail(cancel.stderr, 5)}` };
      r = await attempt();
    } else if (holder) {
      return { exitCode: r.code || 1, tail: `the stack is locked by ${holder}`, lockedBy: holder };
    }
    if (r.code === 0) await this.afterApply();
    return { exitCode: r.code, tail: tail(r.stdout + "\n" + r.stderr) };
  }

  /** The state file the runner keeps in its volume, so that the backups hold the state too (docs/gitops.md). */
  get stateCopy(): string {
    return path.join(this.config.workDir, "state", `${this.config.stack}.json`);
  }

  /**
   * After a successful up: drops the pending creates it made moot (withoutMootPendingCreates), and
   * writes the state (its secrets encrypted, as `pulumi stack export` gives them) to the runner's
   * volume for the backups.
   */
  private async afterApply(): Promise<void> {
    const exported = await this.pulumi(["stack", "export"]);
    if (exported.code !== 0) return this.log(`pulumi stack export failed (exit ${exported.code}): ${tail(exported.stderr, 3)}; the state copy for the backups is not updated`);
    const state = JSON.parse(exported.stdout) as { deployment: Parameters<typeof withoutMootPendingCreates>[0] };
    const { changed, dropped } = withoutMootPendingCreates(state.deployment);
    fs.mkdirSync(path.dirname(this.stateCopy), { recursive: true, mode: 0o700 });
    const temporary = `${this.stateCopy}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
    if (changed) {
      const imported = await this.pulumi(["stack", "import", "--file", temporary]);
      this.log(imported.code === 0 ? `cleared ${dropped.length} pending create(s) of a cut-short run, created again by this up: ${dropped.join(", ")}` : `pulumi stack import failed (exit ${imported.code}): ${tail(imported.stderr, 3)}`);
    }
    fs.renameSync(temporary, this.stateCopy);
  }

  async notify(message: Notification): Promise<void> {
    const { ntfyServer } = this.config;
    const topicFile = this.config.secrets.ntfyTopicFile;
    if (!ntfyServer || !topicFile || !fs.existsSync(topicFile)) return;
    const topic = fs.readFileSync(topicFile, "utf8").trim();
    try {
      const response = await fetch(`${ntfyServer.replace(/\/$/, "")}/${topic}`, {
        method: "POST",
        headers: { Title: message.title, Priority: String(message.priority), Tags: message.tags.join(",") },
        body: message.body,
      });
      if (!response.ok) this.log(`ntfy answered ${response.status}; the report was not delivered`);
    } catch (error) {
      this.log(`ntfy unreachable (${(error as Error).message}); the report was not delivered`);
    }
  }
}
