/**
 * The GitOps runner (gitops/main.ts) as a process, following a real git repository (a bare repo
 * here, pushed to with git) and running the real Pulumi CLI and engine (the toolchain's) on a local
 * file backend, with ntfy stood in for by a recording HTTP server on loopback.
 *
 * The repository holds a TEST FIXTURE program (tests/e2e/fixtures/gitops-program), not the homelab
 * program: it has the shapes the gate reads (a homelab:node:Node per node, a resource that writes a
 * message) and runs in seconds, so each behaviour below is one commit.
 *
 * Not covered here: the runner deployed as a service on the lab's swarm (not built yet), the homelab
 * program itself behind it, a remote reached over SSH with a deploy key, Forgejo's real webhook.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { REPO_ROOT } from "../../lab/config";
import { until } from "../../lab/exec";
import { sign } from "../../gitops/webhook";
import type { RunnerStatus } from "../../gitops/status";

const log = (line: string) => process.stderr.write(`[e2e-gitops] ${line}\n`);
const ROOT = path.join(REPO_ROOT, "out", "gitops-e2e");
const BARE = path.join(ROOT, "origin.git");
const CLONE = path.join(ROOT, "owner");
const WORK = path.join(ROOT, "runner");
const TARGET = path.join(ROOT, "applied-message");
const SECRETS = path.join(ROOT, "secrets");
const WEBHOOK_SECRET = crypto.randomBytes(16).toString("hex");
const STATUS_TOKEN = crypto.randomBytes(16).toString("hex");
const STACK = "gitops";
let env: NodeJS.ProcessEnv;
let port = 0;
let runner: ChildProcess | undefined;
let runnerLog = "";
const notes: { title: string; body: string }[] = [];
let ntfy: http.Server;

function sh(cmd: string, args: string[], cwd = CLONE, extraEnv: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extraEnv }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The owner edits the stack config and pushes: the new commit's ID. */
function commit(subject: string, config: Record<string, unknown>): string {
  const file = path.join(CLONE, `Pulumi.${STACK}.yaml`);
  const salt = /^encryptionsalt: .*$/m.exec(fs.readFileSync(file, "utf8"))?.[0] ?? "";
  const lines = Object.entries(config).map(([k, v]) => `  fixture:${k}: ${JSON.stringify(v)}`);
  fs.writeFileSync(file, `${salt}\nconfig:\n${lines.join("\n")}\n`);
  sh("git", ["commit", "--quiet", "-am", subject]);
  sh("git", ["push", "--quiet", "origin", "HEAD:main"]);
  return sh("git", ["rev-parse", "HEAD"]);
}

const base = (message: string, extra: Record<string, unknown> = {}) => ({ message, target: TARGET, nodes: [{ name: "w1", disk: "disk-a" }], ...extra });

function startRunner(): void {
  const config = {
    repository: BARE,
    branch: "main",
    stack: STACK,
    intervalSeconds: 3600,
    workDir: WORK,
    listenPort: port,
    pulumiBin: path.join(env.HOMELAB_TEST_PULUMI_DIR!, "pulumi"),
    ntfyServer: `http://127.0.0.1:${(ntfy.address() as { port: number }).port}`,
    secrets: { webhookSecretFile: path.join(SECRETS, "webhook"), statusTokenFile: path.join(SECRETS, "token"), ntfyTopicFile: path.join(SECRETS, "topic") },
  };
  fs.writeFileSync(path.join(ROOT, "runner.json"), JSON.stringify(config));
  runner = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "ts-node"), ["--transpile-only", path.join(REPO_ROOT, "gitops", "main.ts"), path.join(ROOT, "runner.json")], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  runner.stdout!.setEncoding("utf8").on("data", (c: string) => ((runnerLog += c), c.split("\n").filter(Boolean).forEach((l) => log(`runner: ${l.slice(25)}`))));
  runner.stderr!.setEncoding("utf8").on("data", (c: string) => (runnerLog += c));
}

/** Kills the runner and everything it started (the pulumi CLI, its language host and plugins) at once, like a node losing power. */
function killRunner(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  const child = runner!;
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    process.kill(-child.pid!, signal);
  });
}

async function request(method: string, pathname: string, headers: Record<string, string> = {}, body = ""): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`http://127.0.0.1:${port}${pathname}`, { method, headers, body: method === "GET" ? undefined : body });
  const text = await r.text();
  return { status: r.status, json: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

const status = async () => (await request("GET", "/status", { Authorization: `Bearer ${STATUS_TOKEN}` })).json as unknown as RunnerStatus;

async function handled(commitId: string, seconds = 240): Promise<RunnerStatus> {
  return until(
    `the runner handled ${commitId.slice(0, 12)}`,
    seconds,
    async () => {
      const s = await status();
      return s.lastCommit?.commit === commitId && !s.running ? s : undefined;
    },
    500,
  );
}

function push(after: string, delivery = crypto.randomUUID(), secret = WEBHOOK_SECRET) {
  const body = JSON.stringify({ ref: "refs/heads/main", after, repository: { full_name: "owner/homelab" } });
  return request("POST", "/hooks", { "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": `sha256=${sign(secret, body)}` }, body);
}

const applied = () => (fs.existsSync(TARGET) ? fs.readFileSync(TARGET, "utf8") : "");

beforeAll(async () => {
  fs.rmSync(ROOT, { recursive: true, force: true });
  fs.mkdirSync(SECRETS, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(SECRETS, "webhook"), WEBHOOK_SECRET, { mode: 0o600 });
  fs.writeFileSync(path.join(SECRETS, "token"), STATUS_TOKEN, { mode: 0o600 });
  fs.writeFileSync(path.join(SECRETS, "topic"), "gitops-test", { mode: 0o600 });
  fs.writeFileSync(path.join(SECRETS, "passphrase"), crypto.randomBytes(24).toString("base64"), { mode: 0o600 });
  const home = path.join(ROOT, "pulumi-home");
  fs.mkdirSync(home, { recursive: true });
  log("toolchain: the Pulumi CLI and the command plugin (built once, cached)");
  const built = spawnSync("bash", [path.join(REPO_ROOT, "toolchain", "build.sh"), "--install-plugins"], { env: { ...process.env, PULUMI_HOME: home }, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (built.status !== 0) throw new Error("npm run toolchain failed");
  const bin = built.stdout.trim().split("\n").pop()!;
  env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    HOMELAB_TEST_PULUMI_DIR: bin,
    PULUMI_HOME: home,
    PULUMI_BACKEND_URL: `file://${path.join(ROOT, "backend")}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: path.join(SECRETS, "passphrase"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    GIT_AUTHOR_NAME: "owner",
    GIT_AUTHOR_EMAIL: "owner@homelab.test",
    GIT_COMMITTER_NAME: "owner",
    GIT_COMMITTER_EMAIL: "owner@homelab.test",
  };
  delete env.PULUMI_CONFIG_PASSPHRASE;
  fs.mkdirSync(path.join(ROOT, "backend"), { recursive: true });

  // The owner's repository: the fixture program with this project's package.json and lockfile.
  sh("git", ["init", "--quiet", "--bare", "--initial-branch=main", BARE], ROOT);
  sh("git", ["clone", "--quiet", BARE, CLONE], ROOT);
  for (const f of ["Pulumi.yaml", "index.js"]) fs.copyFileSync(path.join(__dirname, "fixtures", "gitops-program", f), path.join(CLONE, f));
  for (const f of ["package.json", "package-lock.json"]) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(CLONE, f));
  fs.writeFileSync(path.join(CLONE, ".gitignore"), "node_modules/\n");
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(CLONE, "node_modules"));
  sh("pulumi", ["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"]);
  sh("git", ["add", "-A"]);
  sh("git", ["commit", "--quiet", "-m", "the fixture program"]);
  // The runner's dependency cache, seeded with this checkout's modules under the lockfile's hash
  // (the runner would run npm ci otherwise, and the lab reaches no registry).
  const hash = crypto.createHash("sha256").update(fs.readFileSync(path.join(REPO_ROOT, "package-lock.json"))).digest("hex").slice(0, 16);
  fs.mkdirSync(path.join(WORK, "modules", hash), { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(WORK, "modules", hash, "node_modules"));

  ntfy = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      notes.push({ title: String(req.headers.title ?? ""), body });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => ntfy.listen(0, "127.0.0.1", r));
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
}, 20 * 60 * 1000);

afterAll(async () => {
  if (runner) await killRunner("SIGTERM");
  ntfy?.close();
});

test("the first commit is applied when the runner starts; the status wants the token", async () => {
  const first = commit("hello", base("one"));
  startRunner();
  const s = await handled(first);
  expect(s.lastCommit).toMatchObject({ result: "applied", subject: "hello" });
  expect(applied()).toBe("one");
  expect((await request("GET", "/status")).status).toBe(401);
  expect((await request("GET", "/status", { Authorization: "Bearer wrong" })).status).toBe(401);
  expect(notes.map((n) => n.title)).toContain(`homelab: ${first.slice(0, 12)} applied`);
  const metrics = (await request("GET", "/metrics")).json.text as string;
  expect(metrics).toContain('homelab_gitops_runs_total{result="applied"} 1');
});

test("a push webhook applies the new commit; a bad signature and a replay are refused and run nothing", async () => {
  const second = commit("say two", base("two"));
  const delivery = crypto.randomUUID();
  expect((await push(second, crypto.randomUUID(), "not-the-secret")).status).toBe(401);
  const started = Date.now();
  expect((await push(second, delivery)).status).toBe(202);
  expect((await push(second, delivery)).status).toBe(409);
  const s = await handled(second);
  log(`webhook to applied: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(s.lastCommit?.result).toBe("applied");
  expect(s.runs.applied).toBe(2);
  expect(applied()).toBe("two");
  expect(runnerLog).toMatch(/webhook refused \(401\)/);
});

test("a commit whose preview fails is refused and reported, and nothing is applied", async () => {
  const bad = commit("broken", base("never", { fail: true }));
  await push(bad);
  const s = await handled(bad);
  expect(s.lastCommit?.result).toBe("refused");
  expect(s.lastCommit?.reasons.join("\n")).toMatch(/fixture:fail is set/);
  expect(applied()).toBe("two");
  expect(notes.find((n) => n.title.includes(bad.slice(0, 12)))?.title).toMatch(/refused: its preview failed/);
});

test("a commit that would replace a node is held for the owner, and the next commit goes on", async () => {
  const reflash = commit("reflash w1", base("held", { nodes: [{ name: "w1", disk: "disk-b" }] }));
  await push(reflash);
  const s = await handled(reflash);
  expect(s.lastCommit?.result).toBe("held");
  expect(s.lastCommit?.reasons.join("\n")).toMatch(/node w1: replace of fixture-w1-ignition/);
  expect(applied()).toBe("two");
  expect(notes.find((n) => n.title.includes(reflash.slice(0, 12)))?.body).toMatch(/Apply it by hand/);
  const back = commit("back to disk-a", base("three"));
  await push(back);
  expect((await handled(back)).lastCommit?.result).toBe("applied");
  expect(applied()).toBe("three");
});

test("triggers during a run are coalesced: one run at a time, the stack never found locked", async () => {
  const slow = commit("slow four", base("four", { slowSeconds: 8 }));
  const before = (await status()).runs.applied;
  const answers = await Promise.all(Array.from({ length: 6 }, () => push(slow)));
  expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
  expect(answers.filter((a) => a.json.started === true)).toHaveLength(1);
  const s = await handled(slow);
  expect(s.runs.applied).toBe(before + 1);
  expect(applied()).toBe("four");
  expect(runnerLog).not.toMatch(/currently locked/);
});

test("the runner killed in the middle of an up: restarted, it completes the run and leaves no lock or pending operation", async () => {
  const cut = commit("cut short five", base("five", { slowSeconds: 20 }));
  await push(cut);
  await until("the up has started", 120, async () => ((await status()).running?.phase === "up" ? true : undefined), 200);
  await new Promise((r) => setTimeout(r, 6000));
  await killRunner();
  expect(applied()).toBe("four");
  startRunner();
  const s = await handled(cut);
  expect(s.lastCommit?.result).toBe("applied");
  expect(applied()).toBe("five");
  expect(runnerLog).toMatch(/the last run was cut short in its up phase/);
  const exported = JSON.parse(sh("pulumi", ["stack", "export", "--stack", STACK])) as { deployment: { pending_operations?: unknown[] } };
  expect(exported.deployment.pending_operations ?? []).toEqual([]);
  expect(fs.existsSync(path.join(ROOT, "backend", ".pulumi", "locks")) ? fs.readdirSync(path.join(ROOT, "backend", ".pulumi", "locks"), { recursive: true }).filter((f) => String(f).endsWith(".json")) : []).toEqual([]);
});

test("SIGTERM during a run (its own service updated) lets the run finish before the runner exits", async () => {
  const six = commit("six", base("six", { slowSeconds: 5 }));
  await push(six);
  await until("the up has started", 120, async () => ((await status()).running?.phase === "up" ? true : undefined), 200);
  const exited = new Promise<number | null>((r) => runner!.once("exit", (code) => r(code)));
  runner!.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(applied()).toBe("six");
  expect(runnerLog).toMatch(/SIGTERM: finishing the current run first/);
  startRunner();
  const s = await handled(six);
  expect(s.lastCommit?.result).toBe("applied");
});
