/**
 * What the GitOps runner remembers and shows: the last commit it handled and how, the last one it
 * applied, what is running now, and counts of runs by result. Kept as one JSON file in the
 * runner's volume, so a restarted runner neither handles a commit twice nor forgets its last good
 * one. Pure, apart from load/save.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export type RunResult = "applied" | "held" | "refused" | "failed";
export const RUN_RESULTS: readonly RunResult[] = ["applied", "held", "refused", "failed"];

export interface HandledCommit {
  readonly commit: string;
  readonly subject: string;
  readonly result: RunResult;
  /** The preview's summary ("2 to update, 1 to create"). */
  readonly summary: string;
  /** Why it was held, refused or failed. */
  readonly reasons: readonly string[];
  readonly at: string;
  readonly seconds: number;
}

export interface RunnerStatus {
  readonly lastCommit?: HandledCommit;
  readonly lastSuccess?: { readonly commit: string; readonly at: string };
  /** Set while a run is going; left set by a runner that was killed mid-run. */
  readonly running?: { readonly commit?: string; readonly phase: string; readonly since: string };
  readonly lastCheck?: string;
  /** When the branch's head first went unapplied (held, refused or failed); absent while the cluster is at the head. */
  readonly behindSince?: string;
  readonly runs: Readonly<Record<RunResult, number>>;
  readonly lastRunSeconds?: number;
}

export const EMPTY_STATUS: RunnerStatus = { runs: { applied: 0, held: 0, refused: 0, failed: 0 } };

/** The status after a commit was handled; `counted: false` for a commit found already applied (no run happened). */
export function recordResult(status: RunnerStatus, handled: HandledCommit & { readonly counted?: boolean }, now: Date): RunnerStatus {
  const { counted = true, ...commit } = handled;
  const { behindSince: _was, ...rest } = status;
  return {
    ...rest,
    ...(commit.result === "applied" ? {} : { behindSince: status.behindSince ?? commit.at }),
    lastCommit: commit,
    lastCheck: now.toISOString(),
    ...(commit.result === "applied" ? { lastSuccess: { commit: commit.commit, at: commit.at } } : {}),
    runs: counted ? { ...status.runs, [commit.result]: status.runs[commit.result] + 1 } : status.runs,
    ...(counted ? { lastRunSeconds: commit.seconds } : {}),
  };
}

export function loadStatus(file: string): RunnerStatus {
  if (!fs.existsSync(file)) return EMPTY_STATUS;
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<RunnerStatus>;
  return { ...EMPTY_STATUS, ...parsed, runs: { ...EMPTY_STATUS.runs, ...(parsed.runs ?? {}) } };
}

/**
 * Writes to a temporary file (named for this writer alone: two runners share the volume during a
 * handover) and renames it, so a runner killed mid-write leaves the old content whole.
 */
export function writeAtomically(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${crypto.randomBytes(6).toString("hex")}.tmp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}

export function saveStatus(file: string, status: RunnerStatus): void {
  writeAtomically(file, JSON.stringify(status, null, 2) + "\n");
}

/** The status without its `running` mark (a run ended, or the one cut short was taken up again). */
export function withoutRunning(status: RunnerStatus): RunnerStatus {
  const { running: _ended, ...rest } = status;
  return rest;
}

/** Prometheus text exposition of the status. */
export function renderMetrics(status: RunnerStatus): string {
  const lines = [
    "# HELP homelab_gitops_runs_total GitOps runs that handled a new commit, by result.",
    "# TYPE homelab_gitops_runs_total counter",
    ...RUN_RESULTS.map((r) => `homelab_gitops_runs_total{result="${r}"} ${status.runs[r]}`),
    "# HELP homelab_gitops_last_run_duration_seconds How long the last run that handled a commit took.",
    "# TYPE homelab_gitops_last_run_duration_seconds gauge",
    `homelab_gitops_last_run_duration_seconds ${status.lastRunSeconds ?? 0}`,
    "# HELP homelab_gitops_last_success_timestamp_seconds When a commit was last applied (0: never).",
    "# TYPE homelab_gitops_last_success_timestamp_seconds gauge",
    `homelab_gitops_last_success_timestamp_seconds ${status.lastSuccess ? Date.parse(status.lastSuccess.at) / 1000 : 0}`,
    "# HELP homelab_gitops_last_check_timestamp_seconds When the runner last fetched the branch (0: never).",
    "# TYPE homelab_gitops_last_check_timestamp_seconds gauge",
    `homelab_gitops_last_check_timestamp_seconds ${status.lastCheck ? Date.parse(status.lastCheck) / 1000 : 0}`,
    "# HELP homelab_gitops_behind_since_timestamp_seconds Since when the branch's head has waited unapplied (held, refused or failed; 0: the cluster is at the head).",
    "# TYPE homelab_gitops_behind_since_timestamp_seconds gauge",
    `homelab_gitops_behind_since_timestamp_seconds ${status.behindSince ? Date.parse(status.behindSince) / 1000 : 0}`,
    "# HELP homelab_gitops_running 1 while a run is going.",
    "# TYPE homelab_gitops_running gauge",
    `homelab_gitops_running ${status.running ? 1 : 0}`,
  ];
  return lines.join("\n") + "\n";
}
