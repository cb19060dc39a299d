/**
 * The GitOps runner (gitops/main.ts) as a process on this host, following a real git repository (a
 * bare repo under out/, pushed to by an "owner" clone), for the e2e tests and `npm run bench:gitops`.
 * It runs the real Pulumi CLI with the environment it is given; ntfy is stood in for by a recording
 * HTTP server on loopback. Only the runner's deployment as a Swarm service is not exercised here.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import * as YAML from "yaml";
import type { RunnerStatus } from "../gitops/status";
import { sign } from "../gitops/webhook";
import * as https from "https";
import { moveState } from "../bin/move-state";
import { GITOPS_LABEL } from "../compose/gitops";
import { REPO_ROOT, loadLabSpec } from "./config";
import { RunResult, freePort, run, until } from "./exec";
import { loadGitOpsRunnerImage } from "./images/gitopsRunner";
import { labDown, readInventory, sshExec } from "./lab";
import { allowNodesToHostPort } from "./network";
import { S3Standin, startS3Standin } from "./s3";
import { PROGRAM_DIRS, PROGRAM_FILES, Pulumi, STACK, editStackConfig, labPulumi, pulumiEnv, stackPaths, toolchainBin, upWithLab } from "./stack";

export interface HarnessOptions {
  /** Everything of this harness lives here (wiped at start). */
  readonly root: string;
  readonly stack: string;
  /** The environment the runner and the owner's git and pulumi run with (backend, passphrase file, PULUMI_HOME, PATH). */
  readonly env: NodeJS.ProcessEnv;
  /** Fills the owner's clone with the first commit's files (the program and its stack config). */
  readonly fill: (clone: string) => void;
  readonly log: (line: string) => void;
  readonly pulumiBin: string;
  /** Where the ntfy recorder (and the repository's HTTP server, when asked) listen: loopback, or the lab bridge's address for a runner in the cluster. */
  readonly listenHost?: string;
}

export interface Note {
  readonly title: string;
  readonly body: string;
}

export class GitOpsHarness {
  readonly bare: string;
  readonly clone: string;
  readonly work: string;
  readonly notes: Note[] = [];
  runnerLog = "";
  private readonly secrets: string;
  readonly webhookSecret = crypto.randomBytes(16).toString("hex");
  private readonly statusToken = crypto.randomBytes(16).toString("hex");
  private readonly env: NodeJS.ProcessEnv;
  private runner: ChildProcess | undefined;
  private ntfy: http.Server | undefined;
  private gitServer: http.Server | undefined;
  private port = 0;
  /** Where /hooks, /status and /run are asked: the runner process on loopback, unless set (the runner in the cluster, through Traefik). */
  endpoint: ((method: string, pathname: string, headers: Record<string, string>, body: string) => Promise<{ status: number; text: string }>) | undefined;
  /** The status token the runner reads, unless set (the cluster's is generated). */
  statusTokenOverride: string | undefined;

  constructor(private readonly options: HarnessOptions) {
    this.bare = path.join(options.root, "origin.git");
    this.clone = path.join(options.root, "owner");
    this.work = path.join(options.root, "runner");
    this.secrets = path.join(options.root, "secrets");
    this.env = { ...options.env, GIT_AUTHOR_NAME: "owner", GIT_AUTHOR_EMAIL: "owner@homelab.test", GIT_COMMITTER_NAME: "owner", GIT_COMMITTER_EMAIL: "owner@homelab.test" };
  }

  /** The bare repository with the first commit, the runner's dependency cache, the ntfy recorder. */
  async setUp(): Promise<string> {
    const o = this.options;
    fs.rmSync(o.root, { recursive: true, force: true });
    fs.mkdirSync(this.secrets, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.secrets, "webhook"), this.webhookSecret, { mode: 0o600 });
    fs.writeFileSync(path.join(this.secrets, "token"), this.statusToken, { mode: 0o600 });
    fs.writeFileSync(path.join(this.secrets, "topic"), "gitops-test", { mode: 0o600 });
    this.git(["init", "--quiet", "--bare", "--initial-branch=main", this.bare], o.root);
    this.git(["clone", "--quiet", this.bare, this.clone], o.root);
    o.fill(this.clone);
    // No slash: a symlink named node_modules (a test links this checkout's) is ignored too.
    fs.writeFileSync(path.join(this.clone, ".gitignore"), "node_modules\nout/\n");
    this.git(["add", "-A"]);
    this.git(["commit", "--quiet", "-m", "the homelab as it is"]);
    this.git(["push", "--quiet", "origin", "HEAD:main"]);
    // The runner's dependency cache, seeded with this checkout's modules under the lockfile's hash
    // (the runner would run npm ci otherwise, and the lab reaches no registry).
    const hash = crypto.createHash("sha256").update(fs.readFileSync(path.join(this.clone, "package-lock.json"))).digest("hex").slice(0, 16);
    fs.mkdirSync(path.join(this.work, "modules", hash), { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(this.work, "modules", hash, "node_modules"));
    this.ntfy = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        this.notes.push({ title: String(req.headers.title ?? ""), body });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => this.ntfy!.listen(0, o.listenHost ?? "127.0.0.1", r));
    this.port = await freePort();
    return this.head();
  }

  /** The ntfy recorder's URL (`http://<listenHost>:<port>`). */
  ntfyUrl(): string {
    return `http://${this.options.listenHost ?? "127.0.0.1"}:${(this.ntfy!.address() as { port: number }).port}`;
  }

  /**
   * Serves the bare repository over git's "dumb" HTTP protocol (static files, which git fetches
   * as it would from any web server; `git update-server-info` after every push keeps the index
   * current, as git's own post-update sample hook does). Returns the clone URL.
   */
  async serveOverHttp(): Promise<string> {
    const hook = path.join(this.bare, "hooks", "post-update");
    fs.writeFileSync(hook, "#!/bin/sh\nexec git update-server-info\n", { mode: 0o755 });
    this.git(["update-server-info"], this.bare);
    const root = path.resolve(this.bare);
    this.gitServer = http.createServer((req, res) => {
      const file = path.resolve(root, `.${decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/homelab\.git/, "")}`);
      if (req.method !== "GET" || !file.startsWith(`${root}/`) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      fs.createReadStream(file).pipe(res);
    });
    const host = this.options.listenHost ?? "127.0.0.1";
    await new Promise<void>((r) => this.gitServer!.listen(0, host, r));
    return `http://${host}:${(this.gitServer.address() as { port: number }).port}/homelab.git`;
  }

  git(args: string[], cwd = this.clone): string {
    const r = spawnSync("git", args, { cwd, env: this.env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }

  head(): string {
    return this.git(["rev-parse", "HEAD"]);
  }

  /** The owner edits the stack config (`Pulumi.<stack>.yaml`, kept with its salt and secure values), commits and pushes. */
  commit(subject: string, edit: (config: Record<string, unknown>) => void): string {
    const file = path.join(this.clone, `Pulumi.${this.options.stack}.yaml`);
    const document = YAML.parseDocument(fs.readFileSync(file, "utf8"));
    const config = ((document.toJS() as { config?: Record<string, unknown> }).config ?? {}) as Record<string, unknown>;
    edit(config);
    document.set("config", config);
    fs.writeFileSync(file, document.toString());
    this.git(["commit", "--quiet", "-am", subject]);
    this.git(["push", "--quiet", "origin", "HEAD:main"]);
    return this.head();
  }

  /** Starts the runner and waits for it to answer; `env` overrides the harness's environment (e.g. another state backend). */
  async startRunner(env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.runner = this.spawnRunner(this.port, env);
    await this.healthy(this.port);
  }

  /**
   * What Swarm does when the runner's own service is updated (start-first): a second runner on the
   * same work folder starts while the first is in its run, then the first gets SIGTERM. Resolves
   * with the first one's exit code once the second answers; the harness then talks to the second.
   */
  async handOver(): Promise<number | null> {
    const port = await freePort();
    const next = this.spawnRunner(port, {});
    await this.healthy(port);
    const exited = await this.stopRunner("SIGTERM");
    this.runner = next;
    this.port = port;
    return exited;
  }

  private spawnRunner(port: number, env: NodeJS.ProcessEnv): ChildProcess {
    const config = {
      repository: this.bare,
      branch: "main",
      stack: this.options.stack,
      intervalSeconds: 3600,
      workDir: this.work,
      listenPort: port,
      pulumiBin: this.options.pulumiBin,
      ntfyServer: this.ntfyUrl(),
      secrets: { webhookSecretFile: path.join(this.secrets, "webhook"), statusTokenFile: path.join(this.secrets, "token"), ntfyTopicFile: path.join(this.secrets, "topic") },
    };
    const file = path.join(this.options.root, `runner-${port}.json`);
    fs.writeFileSync(file, JSON.stringify(config));
    const runner = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "ts-node"), ["--transpile-only", path.join(REPO_ROOT, "gitops", "main.ts"), file], { env: { ...this.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    runner.stdout!.setEncoding("utf8").on("data", (c: string) => {
      this.runnerLog += c;
      for (const line of c.split("\n").filter(Boolean)) this.options.log(`runner :${port}: ${line.slice(25)}`);
    });
    runner.stderr!.setEncoding("utf8").on("data", (c: string) => (this.runnerLog += c));
    return runner;
  }

  private healthy(port: number): Promise<true> {
    return until(
      `the runner on :${port} answers /healthz`,
      60,
      async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 ? true : undefined),
      200,
    );
  }

  /** Stops the runner: SIGKILL to its whole process group (the pulumi CLI and its plugins too), like a node losing power; or SIGTERM to it alone, like a service update. */
  stopRunner(signal: "SIGKILL" | "SIGTERM" = "SIGTERM"): Promise<number | null> {
    const child = this.runner;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => {
      child.once("exit", (code) => resolve(code));
      if (signal === "SIGKILL") process.kill(-child.pid!, "SIGKILL");
      else child.kill("SIGTERM");
    });
  }

  async close(): Promise<void> {
    await this.stopRunner("SIGTERM");
    this.ntfy?.close();
    this.gitServer?.close();
  }

  async request(method: string, pathname: string, headers: Record<string, string> = {}, body = ""): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
    const { status, text } = this.endpoint
      ? await this.endpoint(method, pathname, headers, body)
      : await fetch(`http://127.0.0.1:${this.port}${pathname}`, { method, headers, body: method === "GET" ? undefined : body }).then(async (r) => ({ status: r.status, text: await r.text() }));
    return { status, json: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
  }

  async status(token = this.statusTokenOverride ?? this.statusToken): Promise<RunnerStatus> {
    return (await this.request("GET", "/status", { Authorization: `Bearer ${token}` })).json as unknown as RunnerStatus;
  }

  /** A GitHub push webhook for `after`, signed with the runner's secret unless another is given. */
  push(after: string, delivery: string = crypto.randomUUID(), secret = this.webhookSecret) {
    const body = JSON.stringify({ ref: "refs/heads/main", after, repository: { full_name: "owner/homelab" } });
    return this.request("POST", "/hooks", { "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": `sha256=${sign(secret, body)}` }, body);
  }

  /** Waits until the runner has handled `commit` and no run is going. */
  handled(commit: string, seconds = 600): Promise<RunnerStatus> {
    return until(
      `the runner handled ${commit.slice(0, 12)}`,
      seconds,
      async () => {
        const s = await this.status();
        return s.lastCommit?.commit === commit && !s.running ? s : undefined;
      },
      500,
    );
  }

  /** Waits until a run is in its `phase` (e.g. "up"). */
  inPhase(phase: string, seconds = 300): Promise<true> {
    return until(`the runner's ${phase} phase`, seconds, async () => ((await this.status()).running?.phase === phase ? true : undefined), 200);
  }
}

/**
 * The lab with GitOps: the lab stack brought up from "the owner's laptop" (lab/stack.ts's working
 * copy and local file backend), then a repository of that very working copy (the program and
 * Pulumi.lab.yaml with its salt) that the runner follows, with the same backend and passphrase.
 * The caller starts the runner.
 */
export async function setUpLabGitOps(log: (line: string) => void): Promise<{ harness: GitOpsHarness; pulumi: Pulumi }> {
  const { pulumi, bin, pluginsInstalled, project } = await laptopFirstUp(log);
  const harness = new GitOpsHarness({
    root: path.join(REPO_ROOT, "out", "gitops-lab"),
    stack: STACK,
    env: pulumiEnv(bin, pluginsInstalled),
    log,
    pulumiBin: path.join(bin, "pulumi"),
    fill: (clone) => copyWorkingCopy(project, clone),
  });
  await harness.setUp();
  return { harness, pulumi };
}

/** A fresh lab stack brought up from "the owner's laptop" (lab/stack.ts's working copy, local file state). */
async function laptopFirstUp(log: (line: string) => void): Promise<{ pulumi: Pulumi; bin: string; pluginsInstalled: boolean; project: string }> {
  await labDown({ log: () => undefined });
  fs.rmSync(stackPaths().root, { recursive: true, force: true });
  const pulumi = await labPulumi(log);
  log("the first pulumi up, from the owner's laptop, with a local state (the lab boots from its Ignition)");
  await upWithLab(pulumi, log);
  const { bin, pluginsInstalled } = await toolchainBin(() => undefined);
  return { pulumi, bin, pluginsInstalled, project: stackPaths().project };
}

/** The first commit of the owner's repository: the laptop's working copy (the program and the stack config with its salt). */
function copyWorkingCopy(project: string, clone: string): void {
  for (const file of [...PROGRAM_FILES, `Pulumi.${STACK}.yaml`]) fs.copyFileSync(path.join(project, file), path.join(clone, file));
  for (const dir of PROGRAM_DIRS) fs.cpSync(path.join(project, dir), path.join(clone, dir), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, "package-lock.json"), path.join(clone, "package-lock.json"));
}

/** The lab with the GitOps runner in the cluster (setUpClusterGitOps). */
export interface ClusterGitOps {
  readonly harness: GitOpsHarness;
  /** The owner's pulumi on the shared state: in the laptop's working copy, or in `cwd` (e.g. a clone of the repository). */
  readonly owner: (args: string[], input?: string, cwd?: string) => Promise<RunResult>;
  /** The S3 stand-in holding the state (stop it when done). */
  readonly s3: S3Standin;
}

/** The node the cluster's runner is pinned to (its `gitops` label). */
export const RUNNER_NODE = "swarm-manager-1";

/**
 * The lab with GitOps in the cluster, as an owner turns it on: the first `pulumi up` from the
 * laptop (local state); `npm run move-state` to an S3 bucket on "the NAS" (the S3 STAND-IN on the
 * lab bridge's host address); a git repository of the working copy served over git's dumb HTTP
 * protocol from this host; the config (repository, backend, ntfy server, the `gitops` label on
 * RUNNER_NODE, backups off) and the config secrets (passphrase, bucket keys, the harness's webhook
 * secret) committed; the lab's build of the runner's image loaded into RUNNER_NODE; `pulumi up`.
 * Resolves once the runner answers through Traefik; the harness then talks to it there.
 */
export async function setUpClusterGitOps(log: (line: string) => void): Promise<ClusterGitOps> {
  const { bin, pluginsInstalled, project } = await laptopFirstUp(log);
  const spec = loadLabSpec();

  log("the owner moves the state to the S3 bucket the cluster reaches too (npm run move-state)");
  const s3 = await startS3Standin(log, spec.gateway);
  await s3.createBucket("homelab-pulumi");
  const backend = s3.backendUrl("homelab-pulumi");
  // The stand-in checks no signature; the SDK still wants keys.
  const laptop = { ...pulumiEnv(bin, pluginsInstalled), AWS_ACCESS_KEY_ID: "owner-key", AWS_SECRET_ACCESS_KEY: "owner-secret" };
  moveState({ backend, stack: STACK, preview: true, cwd: project, env: laptop, log });
  const onS3 = { ...laptop, PULUMI_BACKEND_URL: backend };
  const owner = (args: string[], input?: string, cwd = project) =>
    run("pulumi", [...args, "--stack", STACK, "--non-interactive", "--color", "never"], { cwd, env: onS3, allowFail: true, input, inheritStderr: args[0] === "up" });

  const harness = new GitOpsHarness({ root: path.join(REPO_ROOT, "out", "gitops-cluster"), stack: STACK, env: onS3, log, pulumiBin: path.join(bin, "pulumi"), listenHost: spec.gateway, fill: (clone) => copyWorkingCopy(project, clone) });
  await harness.setUp();
  const repository = await harness.serveOverHttp();
  // The lab fences the host off from the nodes; these three stand in for machines on the LAN.
  for (const url of [s3.endpoint, repository, harness.ntfyUrl()]) await allowNodesToHostPort(spec, Number(new URL(url).port));
  // The owner's previews of what the runner applied run in a clone of the repository, as the runner's do.
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(harness.clone, "node_modules"));

  log("the owner turns GitOps on: the config, its secrets, the label; commits it; pulumi up");
  editStackConfig((c) => {
    const platform = c["homelab:platform"] as Record<string, unknown>;
    platform.gitops = { repository, branch: "main", interval: "1h", backend };
    platform.monitoring = { ntfy: { server: harness.ntfyUrl() } };
    // The runner's volume would otherwise need a backup repository (the cluster's MinIO by default).
    platform.backup = false;
    withLabel(c, RUNNER_NODE, GITOPS_LABEL, "true");
  });
  const secrets: Array<[string, string]> = [
    ["gitopsPassphrase", fs.readFileSync(stackPaths().passphraseFile, "utf8")],
    ["gitopsBackendAccessKeyId", "runner-key"],
    ["gitopsBackendSecretAccessKey", "runner-secret"],
    ["gitopsWebhookSecret", harness.webhookSecret],
  ];
  for (const [key, value] of secrets) {
    const r = await owner(["config", "set", "--secret", `homelab:${key}`], value);
    if (r.code !== 0) throw new Error(`pulumi config set homelab:${key}: ${r.stderr}`);
  }
  fs.copyFileSync(stackPaths().stackConfig, path.join(harness.clone, `Pulumi.${STACK}.yaml`));
  harness.git(["commit", "--quiet", "-am", "GitOps on"]);
  harness.git(["push", "--quiet", "origin", "HEAD:main"]);

  await loadGitOpsRunnerImage(RUNNER_NODE, bin, log);
  const up = await owner(["up", "--yes", "--skip-preview"]);
  if (up.code !== 0) throw new Error(`pulumi up with GitOps on failed:\n${up.stdout.slice(-4000)}`);
  const outputs = JSON.parse((await owner(["stack", "output", "--json", "--show-secrets"])).stdout) as { caCertificateFile: string; generatedSecrets: Record<string, string>; urls: Record<string, string> };
  const ca = fs.readFileSync(path.join(project, outputs.caCertificateFile));
  const host = new URL(outputs.urls["gitops/runner"]).hostname;
  const manager = readInventory().nodes.find((n) => n.role === "manager")!;
  // https://gitops.<domain> through the lab's Traefik, trusting the homelab CA.
  const throughTraefik: NonNullable<GitOpsHarness["endpoint"]> = (method, pathname, headers, body) =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: manager.address, port: 443, method, path: pathname, servername: host, ca, headers: { ...headers, Host: host }, timeout: 15_000 }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error(`${method} https://${host}${pathname}: timed out`)));
      req.end(method === "GET" ? undefined : body);
    });
  harness.statusTokenOverride = outputs.generatedSecrets["gitops/gitops_status_token"];
  harness.endpoint = throughTraefik;
  await until("the runner answers through Traefik", 300, async () => ((await throughTraefik("GET", "/healthz", {}, "").catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 2000);
  return { harness, owner, s3 };
}

/** A label on a node as the swarm has it (`docker node inspect` on a manager). */
export async function swarmLabel(node: string, key: string): Promise<string> {
  const manager = readInventory().nodes.find((n) => n.role === "manager" && n.name !== node)!;
  const r = await sshExec(manager, `docker node inspect ${node} --format '{{index .Spec.Labels "${key}"}}'`, { timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`docker node inspect ${node} on ${manager.name}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Sets `key=value` on a node's labels in a stack config (the owner's edit of Pulumi.<stack>.yaml). */
export function withLabel(config: Record<string, unknown>, node: string, key: string, value: string | undefined): void {
  const nodes = config["homelab:nodes"] as { name: string; labels?: Record<string, string> }[];
  const entry = nodes.find((n) => n.name === node)!;
  const labels = { ...(entry.labels ?? {}) };
  if (value === undefined) delete labels[key];
  else labels[key] = value;
  entry.labels = labels;
  if (Object.keys(labels).length === 0) delete entry.labels;
}
