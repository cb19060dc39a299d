/**
 * Backups on the lab, through the real Pulumi engine, the backup agent the program deploys, real
 * restic 0.14.0 (Debian's, lab/images/restic) in Swarm jobs on the volumes' nodes, and a real SFTP
 * repository: OpenSSH's sftp server on the lab bridge (lab/backup-target.ts), standing in for the
 * owner's NAS. The data is the SQLite writer TEST FIXTURE's (lab/images/sqlite-writer) in a stack of
 * its own pinned to the worker. The drills (lab/drill.ts) are the same code `npm run drill:restore`
 * and `npm run drill:rebuild` run.
 *
 * Not covered here: the cluster's MinIO as the repository (the lab's MinIO is a STAND-IN that speaks
 * no S3), just-in-time apps held asleep during their backup (monitoring.e2e runs the real helper,
 * and services/backup's tests the agent's side against a fake), a real app's own database.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { agentStatus, call, restoreVolume } from "../../bin/restore";
import { DRILL_VOLUME, DrillLab, backUp, rebuildDrill, rebuildDrillLine, restoreDrill, restoreDrillLine, setUpDrillLab } from "../../lab/drill";
import { until } from "../../lab/exec";
import { labDown, sshExec } from "../../lab/lab";

const log = (line: string) => process.stderr.write(`[e2e-backup] ${line}\n`);
const WORKER = "swarm-worker-1";
let lab: DrillLab;
let passwordFile = "";
let drilled: Awaited<ReturnType<typeof restoreDrill>> | undefined;

/** restic on this host against the SFTP target's folder (the server's disk), with the stack's password. */
function restic(args: string[], password = passwordFile): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("restic", ["--no-cache", "-r", lab.target.repositoryDir, ...args], { encoding: "utf8", env: { ...process.env, RESTIC_PASSWORD_FILE: password } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
}
/** The writer's running tasks, as Swarm counts them. */
async function writerTasks(): Promise<number> {
  return (await sshExec("swarm-manager-1", "docker service ps -q --filter desired-state=running drill_writer")).stdout.trim().split("\n").filter(Boolean).length;
}

const snapshots = (): Snapshot[] => JSON.parse(restic(["snapshots", "--json"]).stdout) as Snapshot[];

beforeAll(async () => {
  lab = await setUpDrillLab(log, { retention: { daily: 3, weekly: 2, monthly: 2 } });
  passwordFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "e2e-backup-")), "password");
  fs.writeFileSync(passwordFile, lab.outputs.backupPassword, { mode: 0o600 });
}, 25 * 60 * 1000);

afterAll(async () => {
  if (passwordFile) fs.rmSync(path.dirname(passwordFile), { recursive: true, force: true });
  if (lab) await lab.pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  await labDown({ log: () => undefined });
});

test("the agent plans the drill's volume on its node; its API wants the token", async () => {
  const status = await agentStatus(lab.api);
  expect(status.volumes.map((v) => [v.swarmVolume, v.node, v.services])).toEqual([[DRILL_VOLUME, WORKER, ["drill_writer"]]]);
  await expect(call({ ...lab.api, token: "wrong-token-wrong-token" }, "GET", "/api/status")).rejects.toThrow(/401/);
  // The restic password is a secret output, and nowhere in the plain state or the rendered stack.
  expect(lab.outputs.backupPassword).toMatch(/^[A-Za-z0-9]{40}$/);
  const state = (await lab.pulumi(["stack", "export"])).stdout;
  expect(state).not.toContain(lab.outputs.backupPassword);
  expect(state).not.toContain(lab.target.privateKey.split("\n")[1]);
});

test("restore drill: known files and a SQLite database written during the backup come back identical and consistent", async () => {
  drilled = await restoreDrill(lab, log);
  const line = restoreDrillLine(drilled);
  log(line);
  log(`writer after the restore: ${drilled.startupCheck}; rows when stopped for the backup: ${drilled.rowsAtBackup}`);
  expect(line).toMatch(/^restore_drill files=\d+ identical=true sqlite_ok=true backup_seconds=[\d.]+ restore_seconds=[\d.]+$/);
});

test("pulumi preview and up after the restore change nothing: volumes are not Pulumi's, so a restore is never undone", async () => {
  const preview = await lab.pulumi(["preview", "--diff", "--expect-no-changes"], { allowFail: true });
  expect({ code: preview.code, out: preview.code === 0 ? "" : preview.stdout.slice(-3000) }).toEqual({ code: 0, out: "" });
  const up = await lab.pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  expect({ code: up.code, out: up.code === 0 ? "" : up.stdout.slice(-3000) }).toEqual({ code: 0, out: "" });
});

test("the repository holds one snapshot per backup, named by node and volume, readable only with the password", async () => {
  const mine = snapshots().filter((s) => s.tags?.includes(`volume=${DRILL_VOLUME}`));
  expect(mine.length).toBeGreaterThanOrEqual(1);
  for (const s of mine) expect([s.hostname, s.paths]).toEqual([WORKER, [`/data/${DRILL_VOLUME}`]]);
  const wrong = path.join(path.dirname(passwordFile), "wrong");
  fs.writeFileSync(wrong, "not-the-password", { mode: 0o600 });
  const refused = restic(["snapshots"], wrong);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/wrong password/);
});

test("retention keeps exactly what the policy says: of two snapshots on one past day only the later stays, of today's only the newest", async () => {
  // Two older snapshots of the same volume and node, as the agent would have made them on a past day (made here with the same host and tag).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-backup-old-"));
  fs.writeFileSync(path.join(dir, "old.txt"), "an older backup\n");
  const day = new Date(Date.now() - 3 * 86400 * 1000).toISOString().slice(0, 10);
  for (const time of ["01:00:00", "02:00:00"]) {
    const r = restic(["backup", "--host", WORKER, "--tag", `volume=${DRILL_VOLUME}`, "--time", `${day} ${time}`, dir]);
    expect(r.code).toBe(0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  // Two runs today: the agent's full run then forgets with daily 3, weekly 2, monthly 2.
  await backUp(lab.api, log, DRILL_VOLUME);
  await backUp(lab.api, log);
  await until("the forget after the full run", 300, async () => ((await call(lab.api, "GET", "/api/status")).body.forget?.lastSuccess ? true : undefined));
  const left = snapshots().filter((s) => s.tags?.includes(`volume=${DRILL_VOLUME}`));
  const byDay = new Map<string, Snapshot[]>();
  for (const s of left) byDay.set(s.time.slice(0, 10), [...(byDay.get(s.time.slice(0, 10)) ?? []), s]);
  log(`left after forget: ${left.map((s) => `${s.short_id}@${s.time}`).join(", ")}`);
  expect(byDay.get(day)?.map((s) => s.time.slice(11, 16))).toEqual(["02:00"]);
  const today = new Date().toISOString().slice(0, 10);
  expect(byDay.get(today)).toHaveLength(1);
  expect(restic(["check"]).code).toBe(0);
});

test("a corrupted repository fails the backup with a clear error, and the volume's data and its service are untouched", async () => {
  const before = await agentStatus(lab.api);
  const good = before.volumes.find((v) => v.swarmVolume === DRILL_VOLUME)!.lastSnapshot;
  // The repository's config file garbled: restic cannot open the repository at all.
  const config = path.join(lab.target.repositoryDir, "config");
  const saved = fs.readFileSync(config);
  fs.writeFileSync(config, Buffer.from("garbage, not a restic config"));
  try {
    const { status } = await backUp(lab.api, log, DRILL_VOLUME);
    const v = status.volumes.find((x) => x.swarmVolume === DRILL_VOLUME)!;
    expect(v.lastResult).toBe("failed");
    expect(v.lastError).toMatch(/restic|repository/i);
    expect(v.lastSnapshot).toBe(good);
    // The repository check failed before anything was stopped: the writer kept running.
    expect(await writerTasks()).toBe(1);
  } finally {
    fs.writeFileSync(config, saved);
  }
  const { status } = await backUp(lab.api, log, DRILL_VOLUME);
  expect(status.volumes.find((x) => x.swarmVolume === DRILL_VOLUME)!.lastResult).toBe("ok");
});

test("a restore of a snapshot that does not exist fails before the volume is emptied", async () => {
  await expect(restoreVolume(lab.api, DRILL_VOLUME, "deadbeef", log, 600)).rejects.toThrow(/no snapshot deadbeef in the repository; nothing was stopped or emptied/);
  // The lookup came first: the writer was never stopped, and the repository still holds the volume's snapshots.
  expect(await writerTasks()).toBe(1);
  expect(snapshots().filter((s) => s.tags?.includes(`volume=${DRILL_VOLUME}`)).length).toBeGreaterThan(0);
});

test("rebuild drill: every node destroyed, pulumi up on fresh nodes, every volume restored from the repository", async () => {
  if (!drilled) throw new Error("the restore drill did not run");
  const result = await rebuildDrill(lab, drilled, log);
  lab = result.lab;
  const line = rebuildDrillLine(result);
  log(line);
  expect(line).toMatch(/^rebuild_seconds=[\d.]+ volumes=1 identical=true$/);
  expect(result.sqliteOk).toBe(true);
}, 30 * 60 * 1000);
