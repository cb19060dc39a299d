/**
 * The GitOps runner (gitops/main.ts) as a process, following a real git repository (a bare repo
 * here, pushed to with git) and running the real Pulumi CLI and engine (the toolchain's) on a local
 * file backend, then on an s3:// backend served by the S3 STAND-IN (lab/s3-standin: gofakes3, which
 * checks no signature), with ntfy stood in for by a recording HTTP server on loopback.
 *
 * The repository holds a TEST FIXTURE program (tests/e2e/fixtures/gitops-program), not the homelab
 * program: it has the shapes the gate reads (a homelab:node:Node per node, a resource that writes a
 * message) and runs in seconds, so each behaviour below is one commit.
 *
 * Not covered here: the runner deployed as a service on the lab's swarm (not built yet), the homelab
 * program itself behind it (tests/e2e/gitops-lab.e2e.test.ts), a remote reached over SSH with a
 * deploy key or over https with a token, Forgejo's real webhook, a real S3 server's auth.
 */
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../../lab/config";
import { moveState } from "../../bin/move-state";
import { until } from "../../lab/exec";
import { GitOpsHarness } from "../../lab/gitops";
import { S3Standin, startS3Standin } from "../../lab/s3";
import { pulumiEnv, toolchainBin } from "../../lab/stack";

const log = (line: string) => process.stderr.write(`[e2e-gitops] ${line}\n`);
const ROOT = path.join(REPO_ROOT, "out", "gitops-e2e");
const TARGET = path.join(ROOT, "applied-message");
const STACK = "gitops";
let h: GitOpsHarness;
let env: NodeJS.ProcessEnv;
let s3: S3Standin | undefined;

const base = (message: string, extra: Record<string, unknown> = {}) => ({ message, target: TARGET, nodes: [{ name: "w1", disk: "disk-a" }], ...extra });
/** The owner's commit of the fixture's whole config. */
const commit = (subject: string, config: Record<string, unknown>) =>
  h.commit(subject, (c) => {
    for (const key of Object.keys(c)) delete c[key];
    for (const [k, v] of Object.entries(config)) c[`fixture:${k}`] = v;
  });
const applied = () => (fs.existsSync(TARGET) ? fs.readFileSync(TARGET, "utf8") : "");
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { cwd: h.clone, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
};

beforeAll(async () => {
  fs.rmSync(ROOT, { recursive: true, force: true });
  const home = path.join(ROOT, "..", "gitops-e2e-pulumi-home");
  const { bin, pluginsInstalled } = await toolchainBin(log, home);
  env = pulumiEnv(bin, pluginsInstalled, { home, backend: path.join(ROOT, "backend"), passphraseFile: path.join(ROOT, "..", "gitops-e2e-passphrase") });
  h = new GitOpsHarness({
    root: ROOT,
    stack: STACK,
    env,
    log,
    pulumiBin: path.join(bin, "pulumi"),
    // The fixture program with this project's package.json and lockfile, and the stack's salt.
    fill: (clone) => {
      for (const f of ["Pulumi.yaml", "index.js"]) fs.copyFileSync(path.join(__dirname, "fixtures", "gitops-program", f), path.join(clone, f));
      for (const f of ["package.json", "package-lock.json"]) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(clone, f));
      fs.mkdirSync(path.join(ROOT, "backend"), { recursive: true });
      const r = spawnSync("pulumi", ["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"], { cwd: clone, env, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`pulumi stack init: ${r.stderr}`);
    },
  });
  await h.setUp();
}, 20 * 60 * 1000);

afterAll(async () => {
  await h?.close();
  s3?.stop();
});

test("the first commit is applied when the runner starts; the status wants the token", async () => {
  const first = commit("hello", base("one"));
  await h.startRunner();
  const s = await h.handled(first);
  expect(s.lastCommit).toMatchObject({ result: "applied", subject: "hello" });
  expect(applied()).toBe("one");
  expect((await h.request("GET", "/status")).status).toBe(401);
  expect((await h.request("GET", "/status", { Authorization: "Bearer wrong" })).status).toBe(401);
  expect(h.notes.map((n) => n.title)).toContain(`homelab: ${first.slice(0, 12)} applied`);
  const metrics = (await h.request("GET", "/metrics")).text;
  expect(metrics).toContain('homelab_gitops_runs_total{result="applied"} 1');
});

test("a push webhook applies the new commit; a bad signature and a replay are refused and run nothing", async () => {
  const second = commit("say two", base("two"));
  const delivery = crypto.randomUUID();
  expect((await h.push(second, crypto.randomUUID(), "not-the-secret")).status).toBe(401);
  const started = Date.now();
  expect((await h.push(second, delivery)).status).toBe(202);
  expect((await h.push(second, delivery)).status).toBe(409);
  const s = await h.handled(second);
  log(`webhook to applied: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(s.lastCommit?.result).toBe("applied");
  expect(s.runs.applied).toBe(2);
  expect(applied()).toBe("two");
  expect(h.runnerLog).toMatch(/webhook refused \(401\)/);
});

test("a commit whose preview fails is refused and reported, and nothing is applied", async () => {
  const bad = commit("broken", base("never", { fail: true }));
  await h.push(bad);
  const s = await h.handled(bad);
  expect(s.lastCommit?.result).toBe("refused");
  expect(s.lastCommit?.reasons.join("\n")).toMatch(/fixture:fail is set/);
  expect(applied()).toBe("two");
  expect(h.notes.find((n) => n.title.includes(bad.slice(0, 12)))?.title).toMatch(/refused: its preview failed/);
});

test("a commit that would replace a node is held for the owner, and the next commit goes on", async () => {
  const reflash = commit("reflash w1", base("held", { nodes: [{ name: "w1", disk: "disk-b" }] }));
  await h.push(reflash);
  const s = await h.handled(reflash);
  expect(s.lastCommit?.result).toBe("held");
  expect(s.lastCommit?.reasons.join("\n")).toMatch(/node w1: replace of fixture-w1-ignition/);
  expect(applied()).toBe("two");
  expect(h.notes.find((n) => n.title.includes(reflash.slice(0, 12)))?.body).toMatch(/Apply it by hand/);
  const back = commit("back to disk-a", base("three"));
  await h.push(back);
  expect((await h.handled(back)).lastCommit?.result).toBe("applied");
  expect(applied()).toBe("three");
});

test("triggers during a run are coalesced: one run at a time, the stack never found locked", async () => {
  const slow = commit("slow four", base("four", { slowSeconds: 8 }));
  const before = (await h.status()).runs.applied;
  const answers = await Promise.all(Array.from({ length: 6 }, () => h.push(slow)));
  expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
  expect(answers.filter((a) => a.json.started === true)).toHaveLength(1);
  const s = await h.handled(slow);
  expect(s.runs.applied).toBe(before + 1);
  expect(applied()).toBe("four");
  expect(h.runnerLog).not.toMatch(/currently locked/);
});

test("the runner killed in the middle of an up: restarted, it completes the run and leaves no lock or pending operation", async () => {
  const cut = commit("cut short five", base("five", { slowSeconds: 20 }));
  await h.push(cut);
  await h.inPhase("up");
  await new Promise((r) => setTimeout(r, 6000));
  await h.stopRunner("SIGKILL");
  expect(applied()).toBe("four");
  await h.startRunner();
  const s = await h.handled(cut);
  expect(s.lastCommit?.result).toBe("applied");
  expect(applied()).toBe("five");
  expect(h.runnerLog).toMatch(/the last run was cut short in its up phase/);
  const exported = JSON.parse(sh("pulumi", ["stack", "export", "--stack", STACK])) as { deployment: { pending_operations?: unknown[] } };
  expect(exported.deployment.pending_operations ?? []).toEqual([]);
  // The state copy the backups take is this state.
  const copy = JSON.parse(fs.readFileSync(path.join(h.work, "state", `${STACK}.json`), "utf8")) as { deployment: { resources: unknown[] } };
  expect(copy.deployment.resources).toEqual((exported.deployment as unknown as { resources: unknown[] }).resources);
  expect(fs.existsSync(path.join(ROOT, "backend", ".pulumi", "locks")) ? fs.readdirSync(path.join(ROOT, "backend", ".pulumi", "locks"), { recursive: true }).filter((f) => String(f).endsWith(".json")) : []).toEqual([]);
});

test("SIGTERM during a run (its own service updated) lets the run finish before the runner exits", async () => {
  const six = commit("six", base("six", { slowSeconds: 5 }));
  await h.push(six);
  await h.inPhase("up");
  expect(await h.stopRunner("SIGTERM")).toBe(0);
  expect(applied()).toBe("six");
  expect(h.runnerLog).toMatch(/SIGTERM: finishing the current run first/);
  await h.startRunner();
  const s = await h.handled(six);
  expect(s.lastCommit?.result).toBe("applied");
});

test("the runner's own service updated (start-first): the new runner waits for the old one's run to end, then takes over", async () => {
  const since = h.runnerLog.length;
  const handover = commit("handover", base("handed over", { slowSeconds: 6 }));
  await h.push(handover);
  await h.inPhase("up");
  expect(await h.handOver()).toBe(0);
  expect(applied()).toBe("handed over");
  const after = commit("after the handover", base("after"));
  await h.push(after);
  expect((await h.handled(after)).lastCommit?.result).toBe("applied");
  expect(applied()).toBe("after");
  const log = h.runnerLog.slice(since);
  expect(log).toMatch(/is active on this work folder: waiting for it to finish its run and exit/);
  expect(log.indexOf("the other runner has gone: taking over")).toBeGreaterThan(log.indexOf(`${handover.slice(0, 12)}: applied`));
  expect(log).not.toMatch(/currently locked/);
});

test("the owner's own pulumi up holds the lock (from this very host): the runner changes nothing, and later finds the commit applied", async () => {
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(h.clone, "node_modules"));
  const byHand = commit("applied by hand", base("by hand", { slowSeconds: 15 }));
  const locks = path.join(ROOT, "backend", ".pulumi", "locks");
  const lockFiles = () => (fs.existsSync(locks) ? fs.readdirSync(locks, { recursive: true }).filter((f) => String(f).endsWith(".json")) : []);
  const owner = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"], { cwd: h.clone, env, stdio: "ignore" });
  const ownerDone = new Promise<number | null>((r) => owner.once("exit", r));
  await until("the owner's up holds the lock", 60, () => (lockFiles().length > 0 ? true : undefined), 200);
  const since = h.runnerLog.length;
  await h.push(byHand);
  await until("the runner met the lock", 120, () => (/the stack is locked by \S+ \(a pulumi up of yours\?\); nothing was changed/.test(h.runnerLog.slice(since)) ? true : undefined), 500);
  expect(h.runnerLog.slice(since)).not.toMatch(/releasing its lock/);
  expect(await ownerDone).toBe(0);
  expect(applied()).toBe("by hand");
  await h.push(byHand);
  const s = await h.handled(byHand);
  expect(s.lastCommit).toMatchObject({ result: "applied", summary: "already applied" });
});

test("npm run move-state moves the state to an s3:// backend (the S3 stand-in), checked by a preview; the runner there applies the next commit and the old state is left as it was", async () => {
  await h.stopRunner("SIGTERM");
  s3 = await startS3Standin(log);
  await s3.createBucket("homelab-pulumi");
  const shared = s3.backendUrl("homelab-pulumi");
  // The stand-in checks no signature; the SDK still wants keys (the owner's: AWS_PROFILE or these).
  const withKeys = { ...env, AWS_ACCESS_KEY_ID: "owner-key", AWS_SECRET_ACCESS_KEY: "owner-secret" };
  const lines: string[] = [];
  moveState({ backend: shared, stack: STACK, preview: true, cwd: h.clone, env: withKeys, log: (l) => lines.push(l) });
  expect(lines[lines.length - 1]).toMatch(/^moved: /);
  // A second move finds the stack there and overwrites nothing.
  expect(() => moveState({ backend: shared, stack: STACK, preview: false, cwd: h.clone, env: withKeys, log: () => undefined })).toThrow(/already has a stack gitops: nothing was moved or overwritten/);
  const oldHistory = sh("pulumi", ["stack", "history", "--json", "--stack", STACK]);
  await h.startRunner({ PULUMI_BACKEND_URL: shared, AWS_ACCESS_KEY_ID: "runner-key", AWS_SECRET_ACCESS_KEY: "runner-secret" });
  const seven = commit("seven", base("seven"));
  await h.push(seven);
  expect((await h.handled(seven)).lastCommit?.result).toBe("applied");
  expect(applied()).toBe("seven");
  expect(sh("pulumi", ["stack", "history", "--json", "--stack", STACK])).toBe(oldHistory);
  // The update is in the bucket: its history there ends with the runner's commit.
  const moved = JSON.parse(spawnSync("pulumi", ["stack", "history", "--json", "--stack", STACK], { cwd: h.clone, env: { ...withKeys, PULUMI_BACKEND_URL: shared }, encoding: "utf8" }).stdout) as { environment?: Record<string, string> }[];
  expect(moved[0].environment?.["git.head"]).toBe(seven);
});
