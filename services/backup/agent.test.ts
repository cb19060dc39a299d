/**
 * The backup agent (agent.js) as it runs in the stack: a child process with its config and token
 * file, against testbed.ts's fake Swarm API, whose jobs "run" by a handler that answers as restic
 * 0.14 would. Not covered here (the lab is for that): real Swarm scheduling, secrets' files and
 * modes in a container, volume mounts, restic itself, the socket proxy's filter, Node 18 (set
 * BACKUP_TEST_NODE to run another Node binary).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as net from "net";
import { Agent, FakeJit, FakeSwarm, JIT_TOKEN, JobRun, TOKEN, documentedDockerCalls, until } from "./testbed";

const NODE = "swarm-manager-2";
const VAULT = "vaultwarden_vaultwarden";
const VAULT_DATA = "vaultwarden_data";
const MEALIE = "mealie_mealie";
const MEALIE_DATA = "mealie_data";
const GITEA = "forgejo_forgejo";
const GITEA_DATA = "forgejo_data";
const MINIO = "minio_minio";
const SNAP = "4f3c2a1b9e8d7c6b5a4f3c2a1b9e8d7c6b5a4f3c2a1b9e8d7c6b5a4f3c2a1b9e";
/** The agent's own service, and the restic password's secret as the platform names it (by content). */
const AGENT_SERVICE = "backup_agent";
const PASSWORD_SECRET = "backup_restic_password-1a2b3c4d";

let dir: string;
let swarm: FakeSwarm;
let jit: FakeJit;
let agents: Agent[] = [];
let passwordId: string;
/** The `service` key of the agents a test starts: the socket filter would be written for it. */
let ownService: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-test-"));
  swarm = new FakeSwarm();
  await swarm.start();
  jit = new FakeJit(swarm);
  await jit.start();
  ownService = AGENT_SERVICE;
  swarm.addAgent(AGENT_SERVICE);
  // Another secret of the agent's comes first: the agent must pick the one by its target.
  swarm.mountSecret(AGENT_SERVICE, "backup_token", "backup_backup_token-9f8e7d6c");
  passwordId = swarm.mountSecret(AGENT_SERVICE, "restic_password", PASSWORD_SECRET);
});

afterEach(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  agents = [];
  await swarm.close();
  await jit.close();
  fs.rmSync(dir, { recursive: true, force: true });
  // Every Docker API call any test made is one the README lists for the socket filter.
  const allowed = documentedDockerCalls(ownService, [VAULT, MEALIE, GITEA]);
  expect(swarm.calls.filter((c) => !allowed(c.method, c.path)).map((c) => `${c.method} ${c.path}`)).toEqual([]);
});

interface Restic {
  repositoryExists: boolean;
  /** What `snapshots --json` lists (restic's fields); nothing by default. */
  snapshots?: object[];
  /** `snapshots` fails as with a wrong password while this is set. */
  unreadable?: boolean;
  /** Answers for `backup` of a volume instead of a good summary. */
  backup?: (volume: string) => JobRun | undefined;
  delayMs?: number;
}

/** A snapshot as restic lists it, of `volume` backed up on `node` as the agent does. */
const snapshotOf = (volume: string, node: string, id = SNAP, time = "2026-11-30T03:00:01.123456789Z") => ({ id, short_id: id.slice(0, 8), time, hostname: node, paths: [`/data/${volume}`], tags: [`volume=${volume}`] });

/** restic 0.14's `snapshots` filters: IDs (prefixes), --host, --tag, and --latest N per host and paths. */
function filterSnapshots(all: any[], args: string[]): any[] {
  const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const ids = args.filter((a, i) => !a.startsWith("--") && !["--host", "--tag", "--latest"].includes(args[i - 1]));
  let list = all.filter((s) => (ids.length === 0 || ids.some((id) => s.id.startsWith(id))) && (!flag("--host") || s.hostname === flag("--host")) && (!flag("--tag") || s.tags?.includes(flag("--tag"))));
  const latest = flag("--latest");
  if (latest) {
    const groups = new Map<string, any[]>();
    for (const s of list) groups.set(`${s.hostname} ${s.paths.join(",")}`, [...(groups.get(`${s.hostname} ${s.paths.join(",")}`) ?? []), s]);
    list = [...groups.values()].flatMap((g) => g.sort((a, b) => a.time.localeCompare(b.time)).slice(-Number(latest)));
  }
  return list;
}

const summary = (extra: object = {}) =>
  JSON.stringify({ message_type: "summary", files_new: 3, files_changed: 0, total_files_processed: 3, data_added: 12345, total_bytes_processed: 20000, snapshot_id: SNAP, ...extra });

/** Job handler answering as restic 0.14 does (and busybox for the empty-the-volume job). */
function restic(r: Restic): (spec: any) => JobRun {
  return (spec) => {
    const c = spec.TaskTemplate.ContainerSpec;
    const delayMs = r.delayMs ?? 20;
    if (c.Command) return { exitCode: 0, delayMs };
    switch (c.Args[0]) {
      case "snapshots":
        if (r.unreadable) return { exitCode: 1, stderr: ["Fatal: wrong password or no key found"], delayMs };
        return r.repositoryExists
          ? { exitCode: 0, stdout: [JSON.stringify(filterSnapshots(r.snapshots ?? [], c.Args.slice(1)))], delayMs }
          : { exitCode: 1, stderr: ["Fatal: unable to open config file: Lstat /srv/restic/config: no such file or directory", "Is there a repository at the following location?", "sftp:core@10.0.0.2:/srv/restic"], delayMs };
      case "init":
        r.repositoryExists = true;
        return { exitCode: 0, stdout: ["created restic repository 0123abcd at sftp:core@10.0.0.2:/srv/restic"], delayMs };
      case "backup": {
        const volume = String(c.Args.at(-1)).replace("/data/", "");
        const status = JSON.stringify({ message_type: "status", percent_done: 0.5 });
        return r.backup?.(volume) ?? { exitCode: 0, stdout: [status, summary()], delayMs };
      }
      default:
        return { exitCode: 0, stdout: ["done"], delayMs };
    }
  };
}

interface Setup {
  replicas?: Record<string, number>;
  schedule?: object;
  retention?: object;
  extra?: object;
}

function setup(s: Setup = {}): object {
  for (const name of [VAULT, MEALIE, GITEA]) swarm.addService(name, s.replicas?.[name] ?? (name === MEALIE ? 0 : 1));
  return {
    listen: 0,
    metricsListen: 0,
    dockerApi: `http://127.0.0.1:${swarm.port}`,
    apiHost: "backup.home.arpa",
    schedule: s.schedule ?? { daily: "03:00" },
    repository: "sftp:core@10.0.0.2:/srv/restic",
    passwordSecret: "restic_password",
    retention: s.retention ?? { daily: 7, weekly: 4, monthly: 6 },
    pollSeconds: 0.03,
    quiesceTimeoutSeconds: 2,
    jobTimeoutSeconds: 2,
    volumes: [
      { swarmVolume: VAULT_DATA, node: NODE, services: [VAULT] },
      { swarmVolume: MEALIE_DATA, node: "swarm-worker-1", services: [MEALIE], jit: true },
      { swarmVolume: GITEA_DATA, node: NODE, services: [GITEA] },
    ],
    ...s.extra,
  };
}

/** setup() with the JIT helper configured, and jitNames on the just-in-time volume (mealie_data). */
function jitSetup(s: Setup = {}, jitNames: string[] = ["mealie/mealie"]): object {
  const config = setup(s) as any;
  config.volumes[1].jitNames = jitNames;
  return { ...config, jit: jit.config(dir), ...s.extra };
}

/** How many jobs there were once the last agent started had read the repository. */
let sinceStart = 0;

/** Starts the agent and waits until it has read the repository (or failed to), as it does at start. */
async function start(config: object): Promise<Agent> {
  const agent = await Agent.start(dir, config);
  agents.push(agent);
  await until("the read of the repository at start", () => agent.events.some((e) => e.event === "repository-read" || e.event === "repository-read-failed"), 8000);
  sinceStart = swarm.jobs.length;
  return agent;
}

/** The jobs made since the last agent started (its read of the repository is not among them). */
const made = () => swarm.jobs.slice(sinceStart);
const jobs = (verb?: string) => made().filter((j) => !verb || (j.spec.TaskTemplate.ContainerSpec.Args ?? [])[0] === verb);
const volumeState = async (agent: Agent, name: string) => (await agent.status()).volumes.find((v: any) => v.swarmVolume === name);

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function runEnd(agent: Agent, n = 1) {
  await until(`${n} run-end`, () => agent.events.filter((e) => e.event === "run-end").length >= n, 8000);
}

describe("config", () => {
  test("every problem is named by its key and the agent exits 2", async () => {
    const { code, stderr } = await Agent.refuse(dir, {
      listen: "x",
      schedule: { daily: "3am" },
      passwordSecret: "",
      sshKeySecret: "backup_ssh",
      retention: { daily: -1, hourly: 2 },
      volumes: [{ swarmVolume: "a b", node: NODE, services: ["ok", 3], jit: "yes" }, { swarmVolume: "a b", node: NODE }],
      service: "backup agent",
      credentialsSecret: "/etc/creds",
      typo: 1,
    });
    expect(code).toBe(2);
    for (const key of ["listen:", "apiHost:", "service:", "credentialsSecret:", "schedule.daily:", "repository:", "passwordSecret:", "knownHostsSecret:", "retention.daily:", "retention.hourly: unknown key", "volumes[0].swarmVolume:", "volumes[0].services[1]:", "volumes[0].jit:", "volumes[1].swarmVolume:", "typo: unknown key"]) {
      expect(stderr).toContain(key);
    }
    const both = await Agent.refuse(dir, { ...(setup() as any), schedule: { daily: "03:00", everySeconds: 5 }, tokenFile: "/nonexistent/token" });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("schedule: give exactly one of daily");
  });

  test("the jit key is checked like the others, and with it a just-in-time volume needs its JIT names", async () => {
    const base = setup() as any;
    const { code, stderr } = await Agent.refuse(dir, {
      ...base,
      jit: { url: "http://jit_jit:8080/api", tokenFile: path.join(dir, "nope"), typo: 1 },
      volumes: [{ ...base.volumes[0], jitNames: ["vaultwarden/vaultwarden"] }, base.volumes[1], { ...base.volumes[2], jit: true, jitNames: ["forgejo forgejo"] }],
    });
    expect(code).toBe(2);
    for (const key of ["jit.url: expected an http:// URL", "jit.host:", "jit.typo: unknown key", "jit.tokenFile: cannot read", "volumes[0].jitNames: is only for a just-in-time volume", "volumes[1].jitNames: is required", "volumes[2].jitNames[0]:"]) {
      expect(stderr).toContain(key);
    }
    const awake = await Agent.refuse(dir, { ...base, keepAwake: ["minio/minio", "minio minio"] });
    expect(awake.code).toBe(2);
    expect(awake.stderr).toContain("keepAwake[1]: expected a JIT helper config name");
    expect(awake.stderr).toContain('keepAwake: needs the jit key, to reach the JIT helper that keeps these awake: add "jit": { "host": "<the helper\'s apiHost>" }');
  });

  test("a missing token file is named", async () => {
    const { code, stderr } = await Agent.refuse(dir, { ...(setup() as any), tokenFile: path.join(dir, "nope") });
    expect(code).toBe(2);
    expect(stderr).toMatch(/tokenFile: cannot read/);
  });
});

describe("start and API", () => {
  test("leftover jobs are removed at start by name, every series is there from the start, and the API checks token, host, volume and snapshot", async () => {
    const leftover = swarm.addLeftoverJob(`backup-job-backup-${VAULT_DATA}-1700000000`, VAULT_DATA);
    // Labelled as a job but not named so: the socket filter would refuse its removal.
    const foreign = swarm.addLeftoverJob(`backup-${VAULT_DATA}-1700000000`, VAULT_DATA);
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start(setup());
    expect(swarm.exists(leftover)).toBe(false);
    expect(swarm.exists(foreign)).toBe(true);
    expect(swarm.exists(VAULT)).toBe(true);
    expect(agent.events.find((e) => e.event === "leftover-removed")).toMatchObject({ job: `backup-job-backup-${VAULT_DATA}-1700000000` });
    expect(agent.events.find((e) => e.event === "leftover-not-removed").error).toContain(`docker service rm backup-${VAULT_DATA}-1700000000`);
    // Removed before anything else (then the read of the repository's job, when it ends).
    expect(swarm.calls.filter((c) => c.method === "DELETE" || c.path.endsWith("/create")).map((c) => `${c.method} ${c.path.replace(/\d{10}$/, "")}`)).toEqual([
      `DELETE /v1.41/services/backup-job-backup-${VAULT_DATA}-`,
      "POST /v1.41/services/create",
      "DELETE /v1.41/services/backup-job-check-repository-",
    ]);

    const m = await agent.metrics();
    for (const v of [VAULT_DATA, MEALIE_DATA, GITEA_DATA]) {
      expect(m).toMatch(new RegExp(`^backup_last_success_timestamp_seconds\\{volume="${v}",node="[^"]+"\\} 0$`, "m"));
      for (const r of ["ok", "failed", "deferred"]) expect(sample(m, `backup_runs_total{volume="${v}",result="${r}"}`)).toBe(0);
      expect(sample(m, `backup_duration_seconds{volume="${v}"}`)).toBe(0);
      expect(sample(m, `backup_bytes_added{volume="${v}"}`)).toBe(0);
    }
    expect(sample(m, "backup_running")).toBe(0);
    expect(sample(m, "backup_forget_last_success_timestamp_seconds")).toBe(0);
    // Daily: two days.
    expect(sample(m, "backup_max_age_seconds")).toBe(172800);
    const startedAt = Date.parse(agent.events[0].time) / 1000;
    expect(sample(m, "backup_agent_start_timestamp_seconds")).toBeGreaterThanOrEqual(Math.floor(startedAt) - 2);
    expect(sample(m, "backup_agent_start_timestamp_seconds")).toBeLessThanOrEqual(startedAt);

    expect((await agent.api("GET", "/healthz", null, "anything")).status).toBe(200);
    expect((await agent.api("GET", "/api/status", null)).status).toBe(401);
    expect((await agent.api("GET", "/api/status", "x".repeat(TOKEN.length))).status).toBe(401);
    expect((await agent.api("GET", "/api/status", `${TOKEN}x`)).status).toBe(401);
    expect((await agent.api("POST", "/api/backup", "")).status).toBe(401);
    expect((await agent.api("GET", "/api/status", TOKEN, "other.home.arpa")).status).toBe(404);
    expect((await agent.api("POST", "/api/status")).status).toBe(405);
    expect((await agent.api("GET", "/api/backup")).status).toBe(405);
    expect((await agent.api("POST", "/api/backup/nope_data")).status).toBe(404);
    expect((await agent.api("POST", "/api/backup/%E0%A4%A")).status).toBe(400);
    expect((await agent.api("POST", "/api/restore/nope_data?snapshot=latest")).status).toBe(404);
    for (const bad of ["abc", "LATEST", "1234567", "12345678;rm", "../x", "-x"]) {
      const reply = await agent.api("POST", `/api/restore/${VAULT_DATA}?snapshot=${encodeURIComponent(bad)}`);
      expect(reply.status).toBe(400);
    }
    const status = await agent.status();
    expect(status).toMatchObject({ running: null, queued: 0 });
    expect(new Date(status.nextRun).getHours()).toBe(3);
    expect(status.volumes.map((v: any) => v.lastResult)).toEqual([null, null, null]);
    // Nothing ran but the read of the repository: no scaling, no other job.
    expect(swarm.updates()).toEqual([]);
    expect(swarm.jobs.map((j) => [j.spec.Name.replace(/-\d{10}$/, ""), j.spec.TaskTemplate.ContainerSpec.Args])).toEqual([["backup-job-check-repository", ["snapshots", "--json", "--latest", "1"]]]);
    expect(swarm.jobs[0].removedAt).toBeDefined();
    expect(agent.logs.join("\n")).not.toContain(TOKEN);
  });
});

describe("the repository's snapshots", () => {
  test("at start each volume's last success is its latest snapshot (by host and path) in the repository; an unreadable one is read again by the next run", async () => {
    const repo: Restic = {
      repositoryExists: true,
      unreadable: true,
      snapshots: [
        // restic's own fields; times with nanoseconds and an offset, as restic writes them.
        { time: "2024-05-01T03:00:04.123456789+02:00", hostname: NODE, paths: [`/data/${VAULT_DATA}`], tags: [`volume=${VAULT_DATA}`], id: SNAP, short_id: SNAP.slice(0, 8) },
        { time: "2024-05-02T03:00:00.5Z", hostname: NODE, paths: [`/data/${VAULT_DATA}`, "/etc"], id: "1".repeat(64) },
        // Same path, other node: another volume of that name, not this one.
        { time: "2024-05-02T03:00:00Z", hostname: "swarm-manager-3", paths: [`/data/${MEALIE_DATA}`], id: "2".repeat(64) },
        { time: "2024-04-30T01:00:00Z", hostname: "swarm-worker-1", paths: [`/data/${MEALIE_DATA}`], id: "3".repeat(64) },
      ],
    };
    swarm.handler = restic(repo);
    const agent = await start(setup({ schedule: { everySeconds: 3600 } }));
    // Cannot be read now: logged, nothing learned, the agent goes on.
    expect(agent.events.find((e) => e.event === "repository-read-failed")).toMatchObject({ error: expect.stringMatching(/wrong password/), retry: "at the next run" });
    expect((await agent.status()).volumes.map((v: any) => v.lastSuccess)).toEqual([null, null, null]);
    expect(sample(await agent.metrics(), "backup_max_age_seconds")).toBe(7200);

    // The next run's repository check reads it; that run's own backups then count as newer.
    repo.unreadable = false;
    swarm.handler = restic({ ...repo, backup: () => ({ exitCode: 1, stderr: ["Fatal: connection lost"] }) });
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => [v.swarmVolume, v.lastSuccess, v.lastSnapshot, v.lastResult])).toEqual([
      [VAULT_DATA, "2024-05-01T01:00:04.123Z", SNAP, "failed"],
      [MEALIE_DATA, "2024-04-30T01:00:00.000Z", "3".repeat(64), "failed"],
      [GITEA_DATA, null, null, "failed"],
    ]);
    const m = await agent.metrics();
    expect(sample(m, `backup_last_success_timestamp_seconds{volume="${VAULT_DATA}",node="${NODE}"}`)).toBe(Date.parse("2024-05-01T01:00:04Z") / 1000);
    expect(sample(m, `backup_last_success_timestamp_seconds{volume="${MEALIE_DATA}",node="swarm-worker-1"}`)).toBe(Date.parse("2024-04-30T01:00:00Z") / 1000);
    expect(sample(m, `backup_last_success_timestamp_seconds{volume="${GITEA_DATA}",node="${NODE}"}`)).toBe(0);
  });

  test("a restarted agent reports the repository's last good backups from the start", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const first = await start(setup());
    await first.api("POST", `/api/backup/${VAULT_DATA}`);
    await runEnd(first);
    const before = await volumeState(first, VAULT_DATA);
    await first.stop();

    const at = new Date(Date.parse(before.lastSuccess) - 5000).toISOString().replace("Z", "123456+00:00");
    swarm.handler = restic({ repositoryExists: true, snapshots: [{ time: at, hostname: NODE, paths: [`/data/${VAULT_DATA}`], id: SNAP }] });
    const second = await Agent.start(dir, setup());
    agents.push(second);
    await second.waitEvent("repository-read");
    expect(await volumeState(second, VAULT_DATA)).toMatchObject({ lastSnapshot: SNAP, lastResult: null });
    expect(sample(await second.metrics(), `backup_last_success_timestamp_seconds{volume="${VAULT_DATA}",node="${NODE}"}`)).toBe(Math.floor(Date.parse(at) / 1000));
    expect(second.events.some((e) => e.event === "run-start")).toBe(false);
    expect(sample(await second.metrics(), "backup_running")).toBe(0);
  });
});

describe("backup", () => {
  test("a scheduled run stops each always-on service, backs its volume up with a read-only job on its node, removes the job, gives back the replicas, then forgets", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start(setup({ schedule: { everySeconds: 0.5 }, replicas: { [VAULT]: 2, [MEALIE]: 0, [GITEA]: 1 } }));
    await runEnd(agent);
    // The schedule goes on: what follows looks at the first run only.
    const endAt = Date.parse(agent.events.find((e) => e.event === "run-end").time);
    const first = made().filter((j) => j.createdAt <= endAt);
    const updates = (name: string) => swarm.updates(name).filter((u) => u.at <= endAt);
    const started = agent.events.find((e) => e.event === "run-start");
    expect(started.reason).toBe("schedule");

    // Stopped, then back at their replicas; the JIT volume's sleeping service untouched.
    expect(updates(VAULT).map((u) => u.replicas)).toEqual([0, 2]);
    expect(updates(GITEA).map((u) => u.replicas)).toEqual([0, 1]);
    expect(swarm.updates(MEALIE)).toEqual([]);

    const backups = first.filter((j) => j.spec.TaskTemplate.ContainerSpec.Args[0] === "backup");
    expect(backups.map((j) => j.spec.TaskTemplate.ContainerSpec.Args.at(-1))).toEqual([`/data/${VAULT_DATA}`, `/data/${MEALIE_DATA}`, `/data/${GITEA_DATA}`]);
    const vault = backups[0];
    expect(vault.spec).toMatchObject({
      Name: expect.stringMatching(new RegExp(`^backup-job-backup-${VAULT_DATA}-\\d{10}$`)),
      Labels: { "homelab.backup.job": VAULT_DATA },
      Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
      TaskTemplate: {
        ContainerSpec: {
          Image: "restic/restic:0.14.0",
          Args: ["backup", "--host", NODE, "--tag", `volume=${VAULT_DATA}`, "--json", `/data/${VAULT_DATA}`],
          Env: ["RESTIC_REPOSITORY=sftp:core@10.0.0.2:/srv/restic", "RESTIC_PASSWORD_FILE=/run/secrets/restic_password"],
          Mounts: [{ Type: "volume", Source: VAULT_DATA, Target: `/data/${VAULT_DATA}`, ReadOnly: true }],
          Secrets: [{ SecretID: passwordId, SecretName: PASSWORD_SECRET, File: { Name: "/run/secrets/restic_password", UID: "0", GID: "0", Mode: 0o400 } }],
        },
        Placement: { Constraints: [`node.hostname == ${NODE}`] },
        RestartPolicy: { Condition: "none" },
      },
    });
    expect(vault.spec.TaskTemplate.Networks).toBeUndefined();
    expect(backups[1].spec.TaskTemplate.Placement.Constraints).toEqual(["node.hostname == swarm-worker-1"]);

    // Order: the service's containers had stopped before its job was created; the job was removed
    // before the service was started again.
    const vaultUp = updates(VAULT)[1];
    expect(vault.createdAt).toBeGreaterThanOrEqual(updates(VAULT)[0].at + swarm.stopDelayMs - 5);
    expect(vault.removedAt).toBeLessThanOrEqual(vaultUp.at);
    expect(first.every((j) => j.removedAt !== undefined)).toBe(true);

    // Every job named so; the services scaled by name (the socket filter allows those).
    expect(first.map((j) => j.spec.Name.replace(/-\d{10}$/, ""))).toEqual(["backup-job-check-repository", `backup-job-backup-${VAULT_DATA}`, `backup-job-backup-${MEALIE_DATA}`, `backup-job-backup-${GITEA_DATA}`, "backup-job-forget-repository"]);
    expect(swarm.calls.filter((c) => c.method === "POST" && c.path.endsWith("/update")).map((c) => c.path)[0]).toBe(`/v1.41/services/${VAULT}/update`);
    // Repository checked first; one forget at the end, on any node, no volume.
    expect(first[0].spec.TaskTemplate.ContainerSpec.Args).toEqual(["snapshots", "--json", "--latest", "1"]);
    expect(first.filter((j) => j.spec.TaskTemplate.ContainerSpec.Args[0] === "init")).toEqual([]);
    const forget = first.filter((j) => j.spec.TaskTemplate.ContainerSpec.Args[0] === "forget");
    expect(forget).toHaveLength(1);
    expect(forget[0].spec.TaskTemplate.ContainerSpec.Args).toEqual(["forget", "--prune", "--group-by", "host,tags", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]);
    expect(forget[0].spec.TaskTemplate.Placement).toBeUndefined();
    expect(forget[0].spec.TaskTemplate.ContainerSpec.Mounts).toBeUndefined();
    expect(first.at(-1)).toBe(forget[0]);

    const state = await volumeState(agent, VAULT_DATA);
    expect(state).toMatchObject({ lastResult: "ok", lastSnapshot: SNAP, bytesAdded: 12345, lastError: null });
    expect(Date.parse(state.lastSuccess)).toBeGreaterThan(Date.now() - 10000);
    const m = await agent.metrics();
    expect(sample(m, `backup_runs_total{volume="${VAULT_DATA}",result="ok"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(m, `backup_bytes_added{volume="${VAULT_DATA}"}`)).toBe(12345);
    expect(sample(m, `backup_last_success_timestamp_seconds{volume="${VAULT_DATA}",node="${NODE}"}`)).toBeGreaterThan(Date.now() / 1000 - 10);
    expect(sample(m, "backup_forget_last_success_timestamp_seconds")).toBeGreaterThan(0);

    await runEnd(agent, 2);
    for (const j of swarm.jobs) expect(JSON.stringify(j.spec)).not.toMatch(/RESTIC_PASSWORD=|AWS_SECRET/);
    expect(agent.logs.join("\n")).not.toContain(TOKEN);
  });

  test("credentials, SSH key and known hosts go as the agent's own service mounts them, by reference with their modes, and jobs join the network", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const ids = {
      creds: swarm.mountSecret(AGENT_SERVICE, "restic_credentials", "backup_restic_credentials-aa11bb22"),
      // A target the compose file gave as a path is the same file.
      key: swarm.mountSecret(AGENT_SERVICE, "/run/secrets/restic_ssh_key", "backup_restic_ssh_key-cc33dd44"),
      hosts: swarm.mountSecret(AGENT_SERVICE, "restic_known_hosts", "backup_restic_known_hosts-ee55ff66"),
    };
    const agent = await start(setup({ extra: { credentialsSecret: "restic_credentials", sshKeySecret: "restic_ssh_key", knownHostsSecret: "/run/secrets/restic_known_hosts", network: "minio_backup" } }));
    expect((await agent.api("POST", `/api/backup/${VAULT_DATA}`)).json).toMatchObject({ status: "started" });
    await runEnd(agent);
    const spec = jobs("backup")[0].spec;
    expect(spec.TaskTemplate.ContainerSpec.Env).toEqual(["RESTIC_REPOSITORY=sftp:core@10.0.0.2:/srv/restic", "RESTIC_PASSWORD_FILE=/run/secrets/restic_password", "AWS_SHARED_CREDENTIALS_FILE=/run/secrets/restic_credentials"]);
    expect(spec.TaskTemplate.ContainerSpec.Secrets.map((s: any) => [s.SecretID, s.SecretName, s.File.Name, s.File.Mode])).toEqual([
      [passwordId, PASSWORD_SECRET, "/run/secrets/restic_password", 0o400],
      [ids.creds, "backup_restic_credentials-aa11bb22", "/run/secrets/restic_credentials", 0o400],
      [ids.key, "backup_restic_ssh_key-cc33dd44", "/root/.ssh/id_ed25519", 0o400],
      [ids.hosts, "backup_restic_known_hosts-ee55ff66", "/root/.ssh/known_hosts", 0o444],
    ]);
    expect(spec.TaskTemplate.Networks).toEqual([{ Target: "minio_backup" }]);
    // One volume asked: no forget.
    expect(jobs("forget")).toEqual([]);
  });

  test("each job takes the secrets the agent's service mounts now (a rotation); a target it does not mount fails the run before any service is stopped, naming the key and the fix", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start(setup({ extra: { credentialsSecret: "restic_credentials" } }));
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => v.lastResult)).toEqual(["failed", "failed", "failed"]);
    expect(status.volumes[0].lastError).toContain(
      "credentialsSecret: the agent's service backup_agent mounts no secret with target restic_credentials (its targets: backup_token, restic_password). Fix: mount it there (compose: secrets: - source: <the secret>, target: restic_credentials, mode: 0400), or set credentialsSecret to the target it has",
    );
    expect(status.volumes[0].lastError).not.toContain("passwordSecret");
    expect(made()).toEqual([]);
    expect(swarm.updates()).toEqual([]);
    expect(swarm.calls.some((c) => c.path.includes("/secrets"))).toBe(false);

    // Mounted since (and the password rotated): the next jobs take the references as they are now.
    const creds = swarm.mountSecret(AGENT_SERVICE, "restic_credentials", "backup_restic_credentials-aa11bb22");
    const rotated = swarm.mountSecret(AGENT_SERVICE, "restic_password", "backup_restic_password-5e6f7a8b");
    await agent.api("POST", `/api/backup/${VAULT_DATA}`);
    await runEnd(agent, 2);
    expect(await volumeState(agent, VAULT_DATA)).toMatchObject({ lastResult: "ok" });
    expect(jobs("backup")[0].spec.TaskTemplate.ContainerSpec.Secrets.map((s: any) => [s.SecretID, s.SecretName])).toEqual([
      [rotated, "backup_restic_password-5e6f7a8b"],
      [creds, "backup_restic_credentials-aa11bb22"],
    ]);
  });

  test("an agent service that is not there is named by the service key; a restore missing its secrets stops and empties nothing", async () => {
    swarm.handler = restic({ repositoryExists: true });
    ownService = "backup_agnet";
    const agent = await start(setup({ extra: { service: ownService } }));
    await agent.api("POST", `/api/backup/${VAULT_DATA}`);
    await runEnd(agent);
    expect((await volumeState(agent, VAULT_DATA)).lastError).toContain('service: there is no Swarm service backup_agnet; set service to the agent\'s own Swarm service, <stack>_<service> (e.g. "backup_agent")');
    await agent.api("POST", `/api/restore/${VAULT_DATA}`);
    await agent.waitEvent("restore-end");
    expect((await volumeState(agent, VAULT_DATA)).restore).toMatchObject({ result: "failed", error: expect.stringMatching(/^service: there is no Swarm service backup_agnet/) });
    expect(made()).toEqual([]);
    expect(swarm.updates()).toEqual([]);
    expect(swarm.replicas(VAULT)).toBe(1);
  });

  test("a failed job, a missing path and an empty volume are failures; the services come back all the same", async () => {
    swarm.handler = restic({
      repositoryExists: true,
      backup: (volume) =>
        volume === VAULT_DATA
          ? { exitCode: 1, stderr: ["Fatal: unable to save snapshot: sftp: connection lost"] }
          : volume === GITEA_DATA
            ? { exitCode: 0, stderr: [`/data/${GITEA_DATA} does not exist, skipping`], stdout: [summary({ total_files_processed: 0 })] }
            : { exitCode: 0, stdout: [summary({ total_files_processed: 0 })] },
    });
    const agent = await start(setup());
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const vault = await volumeState(agent, VAULT_DATA);
    expect(vault).toMatchObject({ lastResult: "failed", lastSuccess: null, lastSnapshot: null });
    expect(vault.lastError).toMatch(/restic backup failed \(exit 1\).*connection lost/);
    expect((await volumeState(agent, GITEA_DATA)).lastError).toMatch(/does not exist, skipping/);
    expect((await volumeState(agent, MEALIE_DATA)).lastError).toMatch(/is empty/);
    expect(swarm.replicas(VAULT)).toBe(1);
    expect(swarm.replicas(GITEA)).toBe(1);
    expect(made().every((j) => j.removedAt !== undefined)).toBe(true);
    const m = await agent.metrics();
    expect(sample(m, `backup_runs_total{volume="${VAULT_DATA}",result="failed"}`)).toBe(1);
    expect(sample(m, `backup_runs_total{volume="${VAULT_DATA}",result="ok"}`)).toBe(0);
    expect(sample(m, `backup_last_success_timestamp_seconds{volume="${VAULT_DATA}",node="${NODE}"}`)).toBe(0);
  });

  test("a job that does not end in time is removed and fails its volume; one whose services do not stop is not run", async () => {
    swarm.handler = restic({ repositoryExists: true, backup: (volume) => (volume === VAULT_DATA ? { hang: true } : undefined) });
    swarm.stopDelayMs = 100;
    const agent = await start(setup({ extra: { jobTimeoutSeconds: 0.4, quiesceTimeoutSeconds: 0.5 } }));
    await agent.api("POST", `/api/backup/${VAULT_DATA}`);
    await runEnd(agent);
    expect((await volumeState(agent, VAULT_DATA)).lastError).toMatch(/did not end within 0.4 s/);
    expect(jobs("backup")[0].removedAt).toBeDefined();
    expect(swarm.replicas(VAULT)).toBe(1);

    swarm.stopDelayMs = 60000;
    await agent.api("POST", `/api/backup/${GITEA_DATA}`);
    await runEnd(agent, 2);
    expect((await volumeState(agent, GITEA_DATA)).lastError).toMatch(/still has 1 task\(s\) running 0.5 s after/);
    expect(jobs("backup").filter((j) => j.spec.Labels["homelab.backup.job"] === GITEA_DATA)).toEqual([]);
    expect(swarm.updates(GITEA).map((u) => u.replicas)).toEqual([0, 1]);
  });

  test("an awake just-in-time volume is deferred and not touched, and tried again once it sleeps", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start(setup({ replicas: { [MEALIE]: 1 }, extra: { jitRetrySeconds: 0.5 } }));
    await agent.api("POST", `/api/backup/${MEALIE_DATA}`);
    await runEnd(agent);
    expect(await volumeState(agent, MEALIE_DATA)).toMatchObject({ lastResult: "deferred", retryAt: expect.any(String) });
    expect(swarm.updates(MEALIE)).toEqual([]);
    expect(jobs("backup")).toEqual([]);
    expect(sample(await agent.metrics(), `backup_runs_total{volume="${MEALIE_DATA}",result="deferred"}`)).toBe(1);

    swarm.scale(MEALIE, 0);
    await runEnd(agent, 2);
    expect(agent.events.filter((e) => e.event === "run-start")[1].reason).toBe("retry");
    expect(await volumeState(agent, MEALIE_DATA)).toMatchObject({ lastResult: "ok", retryAt: null });
    expect(jobs("backup")).toHaveLength(1);
    // Asleep: nothing to stop.
    expect(swarm.updates(MEALIE)).toEqual([]);
  });

  test("a just-in-time service woken during its backup fails the backup", async () => {
    swarm.handler = restic({
      repositoryExists: true,
      backup: () => {
        swarm.scale(MEALIE, 1);
        return undefined;
      },
    });
    const agent = await start(setup({ replicas: { [MEALIE]: 0 } }));
    await agent.api("POST", `/api/backup/${MEALIE_DATA}`);
    await runEnd(agent);
    expect((await volumeState(agent, MEALIE_DATA)).lastError).toMatch(/woke during the backup/);
  });

  test("with no repository yet, restic init runs first; with every retention at 0 there is no forget", async () => {
    const repo: Restic = { repositoryExists: false };
    swarm.handler = restic(repo);
    const agent = await start(setup({ retention: { daily: 0, weekly: 0, monthly: 0 } }));
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    expect(made().slice(0, 3).map((j) => j.spec.TaskTemplate.ContainerSpec.Args[0])).toEqual(["snapshots", "init", "backup"]);
    expect(agent.events.some((e) => e.event === "repository-init")).toBe(true);
    expect(jobs("forget")).toEqual([]);
    expect((await agent.status()).volumes.map((v: any) => v.lastResult)).toEqual(["ok", "ok", "ok"]);
  });

  test("a repository that cannot be opened fails every volume and stops no service", async () => {
    swarm.handler = (spec) => ({ exitCode: 1, stderr: ["Fatal: wrong password or no key found"] });
    const agent = await start(setup());
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => v.lastResult)).toEqual(["failed", "failed", "failed"]);
    expect(status.volumes[0].lastError).toMatch(/wrong password/);
    expect(swarm.updates()).toEqual([]);
    expect(jobs("init")).toEqual([]);
  });

  test("triggers during a run are coalesced into one more run", async () => {
    swarm.handler = restic({ repositoryExists: true, delayMs: 150 });
    const agent = await start(setup());
    expect((await agent.api("POST", "/api/backup")).json.status).toBe("started");
    await agent.waitEvent("job-start", (e) => String(e.args).startsWith("backup"));
    expect(sample(await agent.metrics(), "backup_running")).toBe(1);
    expect((await agent.status()).running).toMatchObject({ kind: "backup", reason: "api" });
    // The run has yet to reach this one.
    expect((await agent.api("POST", `/api/backup/${GITEA_DATA}`)).json.status).toBe("already running");
    // This one it is doing now: once more afterwards, and asked twice it is still once.
    expect((await agent.api("POST", `/api/backup/${VAULT_DATA}`)).json.status).toBe("queued");
    expect((await agent.api("POST", `/api/backup/${VAULT_DATA}`)).json.status).toBe("queued");
    expect((await agent.api("POST", "/api/backup")).status).toBe(202);
    await runEnd(agent, 2);
    await until("idle", async () => (await agent.status()).running === null);
    expect(agent.events.filter((e) => e.event === "run-start")).toHaveLength(2);
    expect(jobs("backup")).toHaveLength(6);
    expect(jobs("forget")).toHaveLength(2);
    expect(sample(await agent.metrics(), "backup_running")).toBe(0);
  });
});

describe("with the JIT helper", () => {
  test("a just-in-time volume is held asleep from before its job is created until after it is removed, and released after a failed job too", async () => {
    swarm.handler = restic({ repositoryExists: true });
    let jobsAtHold = -1;
    let removedAtRelease: boolean[] = [];
    jit.onCall = (c) => {
      if (c.action === "hold") jobsAtHold = jobs("backup").length;
      if (c.action === "release") removedAtRelease = jobs("backup").map((j) => j.removedAt !== undefined);
    };
    const agent = await start(jitSetup());
    await agent.api("POST", `/api/backup/${MEALIE_DATA}`);
    await runEnd(agent);
    expect(await volumeState(agent, MEALIE_DATA)).toMatchObject({ lastResult: "ok", lastSnapshot: SNAP });
    // Held for jobTimeoutSeconds + quiesceTimeoutSeconds + 60; the name as the helper's, its slash as %2F.
    expect(jit.log).toEqual(["hold mealie/mealie?seconds=64", "release mealie/mealie"]);
    expect(jit.calls.map((c) => c.rawPath)).toEqual(["/api/hold/mealie%2Fmealie", "/api/release/mealie%2Fmealie"]);
    expect(jit.calls.every((c) => c.ok && c.status === 200)).toBe(true);
    expect(jobsAtHold).toBe(0);
    expect(removedAtRelease).toEqual([true]);
    expect(swarm.updates(MEALIE)).toEqual([]);

    swarm.handler = restic({ repositoryExists: true, backup: () => ({ exitCode: 1, stderr: ["Fatal: unable to save snapshot: sftp: connection lost"] }) });
    await agent.api("POST", `/api/backup/${MEALIE_DATA}`);
    await runEnd(agent, 2);
    expect((await volumeState(agent, MEALIE_DATA)).lastError).toMatch(/connection lost/);
    expect(jit.log.slice(2)).toEqual(["hold mealie/mealie?seconds=64", "release mealie/mealie"]);
    expect(removedAtRelease).toEqual([true, true]);
    // Neither token is ever logged.
    expect(agent.logs.join("\n")).not.toContain(JIT_TOKEN);
    expect(agent.logs.join("\n")).not.toContain(TOKEN);
  });

  test("a service the JIT helper will not hold (409) defers the volume: no job, and the holds already taken are released", async () => {
    swarm.handler = restic({ repositoryExists: true });
    jit.answer = (c) => (c.action === "hold" && c.name === "mealie/worker" ? 409 : undefined);
    // A long job timeout: the hold is capped at the helper's 6 hours.
    const agent = await start(jitSetup({ extra: { jobTimeoutSeconds: 30000, jitRetrySeconds: 3600 } }, ["mealie/mealie", "mealie/worker"]));
    await agent.api("POST", `/api/backup/${MEALIE_DATA}`);
    await runEnd(agent);
    expect(jit.log).toEqual(["hold mealie/mealie?seconds=21600", "hold mealie/worker?seconds=21600", "release mealie/mealie"]);
    const state = await volumeState(agent, MEALIE_DATA);
    expect(state).toMatchObject({ lastResult: "deferred", retryAt: expect.any(String) });
    expect(state.lastError).toMatch(/awake/);
    expect(jobs("backup")).toEqual([]);
    expect(swarm.updates()).toEqual([]);
  });

  test("a JIT helper that does not answer fails its volume, naming its URL; the other volumes are backed up", async () => {
    swarm.handler = restic({ repositoryExists: true });
    // A port nothing listens on.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const config = jitSetup() as any;
    const agent = await start({ ...config, jit: { ...config.jit, url: `http://127.0.0.1:${port}` } });
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => v.lastResult)).toEqual(["ok", "failed", "ok"]);
    expect(status.volumes[1].lastError).toContain(`the JIT helper at http://127.0.0.1:${port} did not answer POST /api/hold/mealie%2Fmealie`);
    expect(jobs("backup").map((j) => j.spec.Labels["homelab.backup.job"])).toEqual([VAULT_DATA, GITEA_DATA]);
    expect(swarm.updates(MEALIE)).toEqual([]);
  });

  test("a restore has the JIT helper stop (force) and hold the service, restores, then releases it asleep; a failed restore keeps the hold", async () => {
    swarm.handler = restic({ repositoryExists: true, snapshots: [snapshotOf(MEALIE_DATA, "swarm-worker-1")] });
    let jobsAtRelease = -1;
    jit.onCall = (c) => {
      if (c.action === "release") jobsAtRelease = made().filter((j) => j.removedAt !== undefined).length;
    };
    const agent = await start(jitSetup({ replicas: { [MEALIE]: 1 } }));
    await agent.api("POST", `/api/restore/${MEALIE_DATA}`);
    await agent.waitEvent("restore-end");
    expect((await volumeState(agent, MEALIE_DATA)).restore).toMatchObject({ result: "ok", error: "" });
    // Held for two jobs' time + quiesceTimeoutSeconds + 60.
    expect(jit.log).toEqual(["stop mealie/mealie?force=true", "hold mealie/mealie?seconds=66", "release mealie/mealie"]);
    expect(jit.calls.every((c) => c.ok && c.status === 200)).toBe(true);
    const holdAt = jit.calls[1].at;
    // The snapshot lookup comes first, before anything is stopped; the two jobs on the volume under the hold.
    expect(made().map((j) => j.createdAt >= holdAt)).toEqual([false, true, true]);
    expect(jobsAtRelease).toBe(3);
    // The helper stopped it, not the agent, and it stays asleep until a request wakes it.
    expect(swarm.updates(MEALIE)).toEqual([]);
    expect(swarm.replicas(MEALIE)).toBe(0);

    swarm.handler = (spec) => (spec.TaskTemplate.ContainerSpec.Args[0] === "restore" ? { exitCode: 1, stderr: ["Fatal: no snapshot found"] } : restic({ repositoryExists: true, snapshots: [snapshotOf(MEALIE_DATA, "swarm-worker-1")] })(spec));
    await agent.api("POST", `/api/restore/${MEALIE_DATA}`);
    await agent.waitEvent("restore-end", (e) => e.result === "failed");
    expect((await volumeState(agent, MEALIE_DATA)).restore.error).toMatch(/no snapshot found.*held asleep by the JIT helper until about .*: mealie\/mealie$/);
    expect(jit.log.slice(3)).toEqual(["stop mealie/mealie?force=true", "hold mealie/mealie?seconds=66"]);
  });
});

describe("keeping the repository awake", () => {
  /** jitSetup() with MinIO asleep in the swarm and kept awake as the repository's service. */
  function repoSetup(s: Setup = {}): object {
    swarm.addService(MINIO, 0);
    return { ...(jitSetup(s) as any), keepAwake: ["minio/minio"], ...s.extra };
  }
  const after = (t: number) => jit.calls.filter((c) => c.at >= t).map((c) => `${c.action} ${c.name}${[...c.query].length ? `?${c.query}` : ""}`.trim());

  test("the read at start and every run keep the repository's JIT service awake from before their first job until after their last, once the helper reports it awake", async () => {
    swarm.handler = restic({ repositoryExists: true });
    jit.wakeDelayMs = 200;
    const agent = await start(repoSetup());
    // At start: one job's time + 60 s; polled until awake; released once the job is removed.
    const [check] = swarm.jobs;
    const asked = jit.calls[0];
    expect(jit.log[0]).toBe("keepawake minio/minio?seconds=62");
    expect(jit.log.slice(1, -1).length).toBeGreaterThan(0);
    expect(jit.log.slice(1, -1).every((l) => l === "status ")).toBe(true);
    expect(jit.log.at(-1)).toBe("release minio/minio");
    expect(check.createdAt).toBeGreaterThanOrEqual(asked.at + 200);
    expect(check.removedAt).toBeLessThanOrEqual(jit.calls.at(-1)!.at);
    expect(jit.calls.every((c) => c.ok)).toBe(true);

    // Asleep again (idle) by the time of the run.
    swarm.scale(MINIO, 0);
    const runAt = Date.now();
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const calls = after(runAt).filter((c) => c !== "status");
    // (3 volumes + check, init, forget) jobs × 2 s + 3 × 2 s to stop + 60 s.
    expect(calls).toEqual(["keepawake minio/minio?seconds=78", "hold mealie/mealie?seconds=64", "release mealie/mealie", "release minio/minio"]);
    const keep = jit.calls.find((c) => c.at >= runAt && c.action === "keepawake")!;
    const release = jit.calls.filter((c) => c.action === "release" && c.name === "minio/minio").at(-1)!;
    expect(made().map((j) => j.spec.TaskTemplate.ContainerSpec.Args[0])).toEqual(["snapshots", "backup", "backup", "backup", "forget"]);
    for (const j of made()) {
      expect(j.createdAt).toBeGreaterThanOrEqual(keep.at + 200);
      expect(j.removedAt).toBeLessThanOrEqual(release.at);
    }
    // Nothing was stopped before the repository was awake.
    expect(swarm.updates().every((u) => u.name === MINIO || u.at >= keep.at + 200)).toBe(true);
    expect((await agent.status()).volumes.map((v: any) => v.lastResult)).toEqual(["ok", "ok", "ok"]);
  });

  test("a repository the helper cannot wake fails every volume, naming the helper and the service: no service stopped, no job, no hold", async () => {
    swarm.handler = restic({ repositoryExists: true });
    jit.answer = (c) => (c.action === "keepawake" ? 503 : undefined);
    const agent = await start(repoSetup());
    const why = `the JIT helper at ${jit.url} answered 503 to keeping awake minio/minio: fake JIT helper: 503`;
    // At start: logged, and the agent goes on.
    expect(agent.events.find((e) => e.event === "repository-read-failed").error).toBe(why);
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => [v.lastResult, v.lastError])).toEqual([
      ["failed", why],
      ["failed", why],
      ["failed", why],
    ]);
    expect(swarm.jobs).toEqual([]);
    expect(swarm.updates()).toEqual([]);
    // Never accepted, so nothing to release.
    expect(jit.log).toEqual(["keepawake minio/minio?seconds=62", "keepawake minio/minio?seconds=78"]);
  });

  test("a restore stops nothing until the repository is awake: one that never wakes fails it untouched (the lease released); once awake, it goes on", async () => {
    swarm.handler = restic({ repositoryExists: true, snapshots: [snapshotOf(VAULT_DATA, NODE)] });
    jit.wakeDelayMs = Infinity;
    const agent = await start(repoSetup({ extra: { quiesceTimeoutSeconds: 0.5 } }));
    const why = `the JIT helper at ${jit.url} did not report minio/minio awake within 0.5 s (quiesceTimeoutSeconds); it is waking`;
    expect(agent.events.find((e) => e.event === "repository-read-failed").error).toBe(why);

    const restoreAt = Date.now();
    await agent.api("POST", `/api/restore/${VAULT_DATA}`);
    await agent.waitEvent("restore-end");
    expect((await volumeState(agent, VAULT_DATA)).restore).toMatchObject({ result: "failed", error: why });
    expect(swarm.updates(VAULT)).toEqual([]);
    expect(swarm.jobs).toEqual([]);
    // 2 jobs × 2 s + 0.5 s to stop + 60 s.
    expect(after(restoreAt).filter((c) => c !== "status")).toEqual(["keepawake minio/minio?seconds=65", "release minio/minio"]);

    swarm.scale(MINIO, 0);
    jit.wakeDelayMs = 100;
    const againAt = Date.now();
    await agent.api("POST", `/api/restore/${VAULT_DATA}`);
    await agent.waitEvent("restore-end", (e) => e.result === "ok");
    const keep = jit.calls.find((c) => c.at >= againAt && c.action === "keepawake")!;
    expect(swarm.updates(VAULT).map((u) => u.replicas)).toEqual([0, 1]);
    expect(swarm.updates(VAULT)[0].at).toBeGreaterThanOrEqual(keep.at + 100);
    expect(after(againAt).filter((c) => c !== "status").at(-1)).toBe("release minio/minio");
  });

  test("a lease capped at the helper's 6 hours is renewed before each job that could outlast it", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start(repoSetup({ extra: { jobTimeoutSeconds: 30000 } }));
    const runAt = Date.now();
    await agent.api("POST", `/api/backup/${VAULT_DATA}`);
    await runEnd(agent);
    // Awake since the start: no polling. Asked for the run, then before the check and the backup.
    expect(after(runAt)).toEqual(["keepawake minio/minio?seconds=21600", "keepawake minio/minio?seconds=21600", "keepawake minio/minio?seconds=21600", "release minio/minio"]);
    const keeps = jit.calls.filter((c) => c.at >= runAt && c.action === "keepawake");
    expect(made().map((j, i) => j.createdAt >= keeps[i + 1].at)).toEqual([true, true]);
  });

  test("a volume whose JIT service is the repository's fails with the fix, untouched; the others are backed up", async () => {
    swarm.handler = restic({ repositoryExists: true });
    const agent = await start({ ...(jitSetup() as any), keepAwake: ["mealie/mealie"] });
    await agent.api("POST", "/api/backup");
    await runEnd(agent);
    const status = await agent.status();
    expect(status.volumes.map((v: any) => v.lastResult)).toEqual(["ok", "failed", "ok"]);
    expect(status.volumes[1].lastError).toBe(
      "keepAwake and this volume's jitNames both name mealie/mealie: it serves the repository, so it cannot sleep for its own volume's backup or restore. Fix: leave this volume out of the backups (homelab:platform.backup.exclude), or use a repository elsewhere",
    );
    expect(jit.log.filter((l) => l.startsWith("hold"))).toEqual([]);
    expect(jobs("backup").map((j) => j.spec.Labels["homelab.backup.job"])).toEqual([VAULT_DATA, GITEA_DATA]);
  });
});

describe("restore", () => {
  test("stops the services (an awake just-in-time one too), empties the volume, restores into it on its node, and starts them again", async () => {
    swarm.handler = restic({ repositoryExists: true, snapshots: [snapshotOf(MEALIE_DATA, "swarm-worker-1")] });
    const agent = await start(setup({ replicas: { [MEALIE]: 1 } }));
    const reply = await agent.api("POST", `/api/restore/${MEALIE_DATA}?snapshot=${SNAP.slice(0, 8)}`);
    expect(reply.status).toBe(202);
    expect(reply.json).toMatchObject({ status: "started", volume: MEALIE_DATA, snapshot: SNAP.slice(0, 8) });
    await agent.waitEvent("restore-end");
    expect(swarm.updates(MEALIE).map((u) => u.replicas)).toEqual([0, 1]);
    const [lookup, empty, restore] = made();
    // The snapshot is looked up first, by the ID asked; nothing was stopped before it was found.
    expect(lookup.spec.TaskTemplate.ContainerSpec.Args).toEqual(["snapshots", "--json", SNAP.slice(0, 8)]);
    expect(swarm.updates(MEALIE)[0].at).toBeGreaterThanOrEqual(lookup.removedAt!);
    expect(empty.spec.TaskTemplate.ContainerSpec).toEqual({
      Image: "restic/restic:0.14.0",
      Command: ["/bin/sh", "-c", 'find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +', "sh", `/data/${MEALIE_DATA}`],
      Args: [],
      Labels: { "homelab.backup.job": MEALIE_DATA },
      Mounts: [{ Type: "volume", Source: MEALIE_DATA, Target: `/data/${MEALIE_DATA}`, ReadOnly: false }],
    });
    expect(empty.spec.TaskTemplate.Placement.Constraints).toEqual(["node.hostname == swarm-worker-1"]);
    expect(restore.spec.TaskTemplate.ContainerSpec).toMatchObject({
      // The full ID found: a backup made meanwhile cannot change what is restored.
      Args: ["restore", SNAP, "--target", "/", "--include", `/data/${MEALIE_DATA}`],
      Mounts: [{ Type: "volume", Source: MEALIE_DATA, Target: `/data/${MEALIE_DATA}`, ReadOnly: false }],
      Secrets: [expect.objectContaining({ SecretID: passwordId })],
    });
    expect(restore.spec.TaskTemplate.Placement.Constraints).toEqual(["node.hostname == swarm-worker-1"]);
    expect(swarm.updates(MEALIE)[1].at).toBeGreaterThanOrEqual(restore.removedAt!);
    expect((await volumeState(agent, MEALIE_DATA)).restore).toMatchObject({ snapshot: SNAP, result: "ok", error: "" });
    expect(made()).toHaveLength(3);
  });

  test("a snapshot that is missing, or another volume's, fails the restore before anything is stopped or emptied", async () => {
    const other = "9a".repeat(32);
    swarm.handler = restic({ repositoryExists: true, snapshots: [snapshotOf(VAULT_DATA, NODE), snapshotOf(GITEA_DATA, NODE, other)] });
    const agent = await start(setup());
    await agent.api("POST", `/api/restore/${VAULT_DATA}?snapshot=deadbeef`);
    await agent.waitEvent("restore-end");
    expect((await volumeState(agent, VAULT_DATA)).restore.error).toMatch(/no snapshot deadbeef in the repository; nothing was stopped or emptied/);
    await agent.api("POST", `/api/restore/${VAULT_DATA}?snapshot=${other.slice(0, 8)}`);
    await agent.waitEvent("restore-end", (e) => e.volume === VAULT_DATA && agent.events.filter((x) => x.event === "restore-end").length >= 2);
    expect((await volumeState(agent, VAULT_DATA)).restore.error).toMatch(new RegExp(`snapshot ${other.slice(0, 8)} is not a backup of ${VAULT_DATA} on ${NODE} \\(it is of \\["/data/${GITEA_DATA}"\\]`));
    await agent.api("POST", `/api/restore/${MEALIE_DATA}`);
    await agent.waitEvent("restore-end", (e) => e.volume === MEALIE_DATA);
    expect((await volumeState(agent, MEALIE_DATA)).restore.error).toMatch(/holds no snapshot of mealie_data from swarm-worker-1/);
    expect(swarm.updates(VAULT)).toEqual([]);
    expect(swarm.replicas(VAULT)).toBe(1);
    expect(made().map((j) => j.spec.TaskTemplate.ContainerSpec.Args[0])).toEqual(["snapshots", "snapshots", "snapshots"]);
  });

  test("a failed restore leaves the services stopped and says so", async () => {
    const fake = restic({ repositoryExists: true, snapshots: [snapshotOf(VAULT_DATA, NODE)] });
    swarm.handler = (spec) => (spec.TaskTemplate.ContainerSpec.Args[0] === "restore" ? { exitCode: 1, stderr: ["Fatal: no snapshot found"] } : fake(spec));
    const agent = await start(setup());
    await agent.api("POST", `/api/restore/${VAULT_DATA}`);
    await agent.waitEvent("restore-end");
    const state = (await volumeState(agent, VAULT_DATA)).restore;
    expect(state).toMatchObject({ snapshot: SNAP, result: "failed" });
    expect(state.error).toMatch(/no snapshot found.*left stopped: vaultwarden_vaultwarden \(had 1\)/);
    expect(swarm.replicas(VAULT)).toBe(0);
    expect(swarm.jobs.every((j) => j.removedAt !== undefined)).toBe(true);
  });
});
