/**
 * The backup drills on the lab, through the program itself (pulumi up, the backup agent it deploys,
 * the restore command's client) and a real repository: restic's sftp: backend against OpenSSH's
 * SFTP server on the lab bridge (lab/backup-target.ts). The data is the SQLite writer's, a TEST
 * FIXTURE (lab/images/sqlite-writer) deployed as a stack of its own (lab/stacks/drill) with its
 * volume pinned to the worker like any stateful app, plus files of known content written into the
 * same volume. Not covered: the cluster's MinIO as the repository (a STAND-IN here), a real app's
 * own database.
 *
 * - restoreDrill: known data in, a backup while the writer writes, the volume wiped, a restore
 *   (the agent stops the writer, empties, restores, starts it), and a check of every file and of
 *   the database exactly as the restore left it (the writer checks it before it writes again).
 * - rebuildDrill: every node destroyed (containers and disks), `pulumi up` on fresh nodes from the
 *   same config and state, every volume restored through the agent, the same checks.
 */
import * as fs from "fs";
import * as path from "path";
import { AgentApi, agentStatus, apiFromOutputs, call, restoreVolume } from "../bin/restore";
import { BackupTarget, backupTargetAccess, startBackupTarget, wipeBackupRepository } from "./backup-target";
import { REPO_ROOT } from "./config";
import { until } from "./exec";
import { Inventory, labDown, sshExec } from "./lab";
import { Pulumi, editStackConfig, labPulumi, stackPaths, upWithLab } from "./stack";

export const DRILL_VOLUME = "drill_data";
const DRILL_SERVICE = "drill_writer";
const DRILL_NODE = "swarm-worker-1";
const MANAGER = "swarm-manager-1";
const FILES = Number(process.env.DRILL_FILES ?? 200);

type Log = (line: string) => void;

export interface DrillLab {
  pulumi: Pulumi;
  inventory: Inventory;
  outputs: Record<string, any>;
  target: BackupTarget;
  api: AgentApi;
}

async function onNode(node: string, command: string, timeoutMs = 120000): Promise<string> {
  const r = await sshExec(node, command, { timeoutMs });
  if (r.code !== 0) throw new Error(`${node}: ${command.slice(0, 120)}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Copies the drill's stack into the lab's working copy (after labPulumi refreshed it). */
function addDrillStack(): void {
  fs.cpSync(path.join(REPO_ROOT, "lab", "stacks", "drill"), path.join(stackPaths().project, "stacks", "drill"), { recursive: true });
}

/**
 * A fresh lab with Traefik, DNS and the drill's stack, backups to the SFTP target (weekly, so no
 * scheduled run interferes; the drills ask for theirs), the repository emptied first.
 */
export async function setUpDrillLab(log: Log, opts: { retention?: { daily: number; weekly: number; monthly: number } } = {}): Promise<DrillLab> {
  await labDown({ log: () => undefined });
  fs.rmSync(stackPaths().root, { recursive: true, force: true });
  wipeBackupRepository();
  const pulumi = await labPulumi(log);
  addDrillStack();
  // The target's keys exist before the config names them; the container itself needs the lab network, made by the up below.
  const keys = await backupTargetAccess();
  editStackConfig((config) => {
    const platform = config["homelab:platform"] as Record<string, unknown>;
    platform.stacks = ["traefik", "dns", "drill"];
    platform.backup = { schedule: "168h", repository: keys.repository, knownHosts: [keys.knownHosts], ...(opts.retention ? { retention: opts.retention } : {}) };
    for (const node of config["homelab:nodes"] as { name: string; labels?: Record<string, string> }[]) {
      if (node.name === DRILL_NODE) node.labels = { ...(node.labels ?? {}), drill: "true" };
    }
  });
  await pulumi(["config", "set", "--secret", "homelab:backupSshKey"], { input: keys.privateKey });
  const t0 = Date.now();
  const { inventory } = await upWithLab(pulumi, log);
  log(`up with the drill stack and the backup agent: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const target = await startBackupTarget(log);
  const outputs = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  const manager = inventory.nodes.find((n) => n.name === MANAGER)!.address;
  const api = apiFromOutputs(outputs, stackPaths().project, manager);
  await until("the backup agent answers through Traefik", 180, async () => ((await agentStatus(api)).volumes.length > 0 ? true : undefined));
  return { pulumi, inventory, outputs, target, api };
}

/** The writer's running container on its node (waits for one). */
async function writerContainer(): Promise<string> {
  return until("the SQLite writer runs", 120, async () => (await onNode(DRILL_NODE, `docker ps -q -f label=com.docker.swarm.service.name=${DRILL_SERVICE}`)).trim().split("\n")[0] || undefined);
}

/** sha256 of every file under /data/files in the volume, sorted by path. */
async function fileSums(container: string): Promise<string> {
  return onNode(DRILL_NODE, `docker exec ${container} sh -c 'cd /data && find files -type f | sort | xargs -r sha256sum'`);
}

/** Runs a backup of `volumes` (all when empty) through the agent and waits until each has a result newer than the ask. */
export async function backUp(api: AgentApi, log: Log, volume?: string): Promise<{ seconds: number; status: Awaited<ReturnType<typeof agentStatus>> }> {
  const t0 = Date.now();
  const before = new Map((await agentStatus(api)).volumes.map((v) => [v.swarmVolume, `${v.lastResult}|${v.lastSuccess}|${v.lastError}|${v.lastDurationSeconds}`]));
  await call(api, "POST", volume ? `/api/backup/${encodeURIComponent(volume)}` : "/api/backup");
  const status = await until(`the backup of ${volume ?? "every volume"}`, 900, async () => {
    const s = await agentStatus(api);
    if (s.running || s.queued > 0) return undefined;
    const done = s.volumes.filter((v) => !volume || v.swarmVolume === volume);
    return done.every((v) => `${v.lastResult}|${v.lastSuccess}|${v.lastError}|${v.lastDurationSeconds}` !== before.get(v.swarmVolume)) ? s : undefined;
  });
  const seconds = (Date.now() - t0) / 1000;
  for (const v of status.volumes.filter((x) => !volume || x.swarmVolume === volume)) log(`backup ${v.swarmVolume}: ${v.lastResult}${v.lastError ? ` (${v.lastError})` : ""} in ${v.lastDurationSeconds} s, snapshot ${v.lastSnapshot}`);
  return { seconds, status };
}

export interface RestoreDrillResult {
  files: number;
  identical: boolean;
  sqliteOk: boolean;
  backupSeconds: number;
  restoreSeconds: number;
  /** What the writer found at its start after the restore, and the rows it had when stopped for the backup. */
  startupCheck: string;
  rowsAtBackup: number;
}

/** The writer's logs since `since` (ISO time), from a manager. */
async function writerLogs(since: string): Promise<string> {
  return onNode(MANAGER, `docker service logs --raw --since ${since} ${DRILL_SERVICE} 2>&1`);
}

/**
 * The rows the writer had when the agent stopped it for the backup begun at `since`: what it finds
 * when started again after the backup (nothing writes in between), which the restore must bring
 * back exactly. Its own "stopped" line is not used: Swarm drops a scaled-down task's logs with it.
 */
async function rowsWhenStopped(since: string): Promise<number> {
  const line = await until("the writer's start after the backup", 120, async () => (await writerLogs(since)).split("\n").find((l) => l.startsWith("startup-check rows=")));
  const m = /^startup-check rows=(\d+) counter=(\d+) integrity=ok$/.exec(line);
  if (!m || m[1] !== m[2]) throw new Error(`the writer found an inconsistent database after the backup: ${line}`);
  return Number(m[1]);
}

/** Checks what the restore left: the files' sums and the database as the writer found it before writing again. */
async function checkRestored(expectedSums: string, rowsAtBackup: number, since: string): Promise<{ identical: boolean; sqliteOk: boolean; startupCheck: string }> {
  const container = await writerContainer();
  const sums = await fileSums(container);
  const startupCheck = await until("the writer's startup check after the restore", 120, async () => {
    const lines = (await writerLogs(since)).split("\n").filter((l) => l.startsWith("startup-check"));
    return lines[lines.length - 1];
  });
  const m = /^startup-check rows=(\d+) counter=(\d+) integrity=(.*)$/.exec(startupCheck);
  const sqliteOk = !!m && m[3] === "ok" && m[1] === m[2] && Number(m[1]) === rowsAtBackup && rowsAtBackup > 0;
  return { identical: sums === expectedSums && sums.split("\n").filter(Boolean).length === FILES, sqliteOk, startupCheck };
}

/**
 * Known data in, backup (the writer writing until the agent stops it), wipe, restore, check.
 * Prints nothing itself but progress; the caller prints the result line.
 */
export async function restoreDrill(lab: DrillLab, log: Log): Promise<RestoreDrillResult & { sums: string }> {
  const container = await writerContainer();
  await until("the writer has written rows", 60, async () => ((await writerLogs("10m")).includes("writing") ? true : undefined));
  log(`writing ${FILES} files of known content into ${DRILL_VOLUME} while the writer commits SQLite transactions`);
  await onNode(DRILL_NODE, `docker exec ${container} sh -c 'mkdir -p /data/files/nested && i=0; while [ $i -lt ${FILES} ]; do d=/data/files; [ $((i % 10)) = 0 ] && d=/data/files/nested; head -c $((4096 + i * 97)) /dev/urandom > $d/f$i.bin; i=$((i+1)); done'`);
  const sums = await fileSums(container);
  const backupStart = new Date().toISOString();
  const backup = await backUp(lab.api, log, DRILL_VOLUME);
  const v = backup.status.volumes.find((x) => x.swarmVolume === DRILL_VOLUME)!;
  if (v.lastResult !== "ok") throw new Error(`the drill's backup failed: ${v.lastError}`);
  const rowsAtBackup = await rowsWhenStopped(backupStart);
  log(`backed up in ${backup.seconds.toFixed(1)} s; the writer had ${rowsAtBackup} rows when the agent stopped it`);

  log(`wiping ${DRILL_VOLUME} on ${DRILL_NODE} (the writer stopped meanwhile, then started on the empty volume)`);
  await onNode(MANAGER, `docker service scale --detach ${DRILL_SERVICE}=0 >/dev/null`);
  await until("the writer stopped", 60, async () => ((await onNode(DRILL_NODE, `docker ps -q -f label=com.docker.swarm.service.name=${DRILL_SERVICE}`)).trim() === "" ? true : undefined));
  await onNode(DRILL_NODE, `docker run --rm --entrypoint /bin/sh -v ${DRILL_VOLUME}:/data restic/restic:0.14.0 -c 'rm -rf /data/* /data/.[!.]*'`);
  await onNode(MANAGER, `docker service scale --detach ${DRILL_SERVICE}=1 >/dev/null`);
  const wiped = await fileSums(await writerContainer());
  if (wiped.trim() !== "") throw new Error(`the wipe left files: ${wiped.slice(0, 200)}`);

  const restoreStart = new Date().toISOString();
  const restored = await restoreVolume(lab.api, DRILL_VOLUME, "latest", log);
  const check = await checkRestored(sums, rowsAtBackup, restoreStart);
  return { files: FILES, ...check, backupSeconds: backup.seconds, restoreSeconds: restored.seconds, rowsAtBackup, sums };
}

export function restoreDrillLine(r: RestoreDrillResult): string {
  return `restore_drill files=${r.files} identical=${r.identical} sqlite_ok=${r.sqliteOk} backup_seconds=${r.backupSeconds.toFixed(1)} restore_seconds=${r.restoreSeconds.toFixed(1)}`;
}

export interface RebuildDrillResult {
  rebuildSeconds: number;
  volumes: number;
  identical: boolean;
  sqliteOk: boolean;
}

/**
 * After a good backup (restoreDrill's, with `sums` and the rows it left): every node destroyed,
 * `pulumi up` on fresh nodes from the same config and state, every volume restored. The clock runs
 * from the destruction to the last volume restored and checked.
 */
export async function rebuildDrill(lab: DrillLab, before: { sums: string }, log: Log): Promise<RebuildDrillResult & { lab: DrillLab }> {
  // A last backup of every volume, so that what is restored is what the cluster held.
  const backupStart = new Date().toISOString();
  const last = await backUp(lab.api, log);
  const failed = last.status.volumes.filter((v) => v.lastResult !== "ok");
  if (failed.length) throw new Error(`the last backup before the rebuild failed for ${failed.map((v) => `${v.swarmVolume}: ${v.lastError}`).join("; ")}`);
  const rowsAtBackup = await rowsWhenStopped(backupStart);
  const t0 = Date.now();
  log("destroying every node: containers, disks and the lab network (the repository is on the SFTP target's disk, which stays)");
  await labDown({ log: () => undefined });
  const { inventory } = await upWithLab(lab.pulumi, log);
  const target = await startBackupTarget(log);
  const manager = inventory.nodes.find((n) => n.name === MANAGER)!.address;
  const outputs = JSON.parse((await lab.pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  const api = apiFromOutputs(outputs, stackPaths().project, manager);
  const status = await until("the backup agent answers on the new cluster", 300, async () => {
    const s = await agentStatus(api);
    return s.volumes.length > 0 ? s : undefined;
  });
  log(`cluster up again in ${((Date.now() - t0) / 1000).toFixed(1)} s; restoring ${status.volumes.length} volume(s)`);
  const restoreStart = new Date().toISOString();
  for (const v of status.volumes) await restoreVolume(api, v.swarmVolume, "latest", log);
  const check = await checkRestored(before.sums, rowsAtBackup, restoreStart);
  return { rebuildSeconds: (Date.now() - t0) / 1000, volumes: status.volumes.length, identical: check.identical, sqliteOk: check.sqliteOk, lab: { ...lab, inventory, outputs, target, api } };
}

export function rebuildDrillLine(r: RebuildDrillResult): string {
  return `rebuild_seconds=${r.rebuildSeconds.toFixed(1)} volumes=${r.volumes} identical=${r.identical}`;
}
