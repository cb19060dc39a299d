/**
 * One GitOps run (docs/gitops.md): fetch the branch; when its head is a commit not yet handled,
 * preview it, put the preview through the gate, and apply it only when the gate says so. A failed
 * apply is followed by an apply of the last good commit, so the cluster goes back to what that run
 * left. What git, Pulumi and ntfy do is behind GitOpsTools (gitops/tools.ts runs the real ones);
 * this file decides.
 */
import { GateDecision, PreviewJson, gatePreview } from "./gate";
import { RunResult, RunnerStatus, recordResult } from "./status";

export interface Commit {
  readonly commit: string;
  readonly subject: string;
}

export interface PreviewOutcome {
  readonly exitCode: number;
  readonly json?: PreviewJson;
  readonly stderr: string;
}

export interface UpOutcome {
  readonly exitCode: number;
  /** The last lines of the output, for the report. */
  readonly tail: string;
  /** Set when the up never started: someone else (the owner's `pulumi up`?) holds the stack's lock. */
  readonly lockedBy?: string;
}

export interface GitOpsTools {
  /** Fetches the branch from the remote: the commit it points at. */
  fetch(): Promise<Commit>;
  /** Puts the worktree at `commit` (and its dependencies in place). */
  checkout(commit: string): Promise<void>;
  /** The commit the stack's last successful update ran from (Pulumi records git.head), if any. */
  lastApplied(): Promise<string | undefined>;
  preview(): Promise<PreviewOutcome>;
  up(commit: string): Promise<UpOutcome>;
  /** What the gate needs from the last run's outputs: the stateful stacks it protects and the node names. */
  previousOutputs(): Promise<PreviousOutputs>;
  notify(message: Notification): Promise<void>;
  log(line: string): void;
}

export interface PreviousOutputs {
  /** The `statefulStacks` output: stacks with named volumes. */
  readonly statefulStacks: readonly string[];
  /** The node names of the `swarmMembers` and `nodes` outputs (to name a node in a reason). */
  readonly nodes: readonly string[];
}

export interface Notification {
  readonly title: string;
  readonly body: string;
  /** ntfy priority: 3 default, 4 high (refused, held, failed). */
  readonly priority: 3 | 4;
  readonly tags: readonly string[];
}

/**
 * What triggered a run: a poll does not retry a commit already handled; a webhook or a manual run
 * retries a failed or refused one (its cause may have passed: a node that did not answer, a
 * network glitch). A held commit stays held: the owner applies it by hand.
 */
export function isRetryTrigger(reasons: readonly string[]): boolean {
  return reasons.some((r) => !r.startsWith("poll"));
}

const short = (commit: string) => commit.slice(0, 12);

/**
 * Runs once and returns the new status. `status` is the runner's record so far; `reasons` the
 * triggers this run answers. `onPhase` is told each phase as it starts (the status endpoint shows it).
 */
export async function runOnce(
  tools: GitOpsTools,
  status: RunnerStatus,
  reasons: readonly string[],
  now: () => Date,
  onPhase: (phase: string, commit?: string) => void = () => undefined,
): Promise<RunnerStatus> {
  onPhase("fetch");
  const head = await tools.fetch();
  const handled = status.lastCommit?.commit === head.commit;
  const retry = handled && (status.lastCommit?.result === "failed" || status.lastCommit?.result === "refused") && isRetryTrigger(reasons);
  if (handled && !retry) {
    tools.log(`${short(head.commit)} was handled already (${status.lastCommit?.result}); nothing to do`);
    return { ...status, lastCheck: now().toISOString() };
  }
  const started = now();
  // Pulumi reads the stack's history from the project, so the worktree is at the commit first.
  await tools.checkout(head.commit);
  const applied = await tools.lastApplied();
  if (applied === head.commit) {
    tools.log(`${short(head.commit)} is what the stack last applied (by hand or by an earlier run); nothing to do`);
    return recordResult(status, { ...head, result: "applied", summary: "already applied", reasons: [], at: now().toISOString(), seconds: 0, counted: false }, now());
  }

  onPhase("preview", head.commit);
  tools.log(`${short(head.commit)} "${head.subject}": preview (triggered by ${reasons.join(", ")})`);
  const preview = await tools.preview();
  const previous = await tools.previousOutputs();
  const decision: GateDecision = gatePreview(preview, previous.nodes, previous.statefulStacks);
  const seconds = () => (now().getTime() - started.getTime()) / 1000;

  if (decision.verdict !== "apply") {
    const result: RunResult = decision.verdict === "hold" ? "held" : "refused";
    tools.log(`${short(head.commit)}: ${result}: ${decision.summary}; ${decision.reasons.join("; ")}`);
    const next = recordResult(status, { ...head, result, summary: decision.summary, reasons: decision.reasons, at: now().toISOString(), seconds: seconds() }, now());
    await tools.notify({
      title: `homelab: ${short(head.commit)} ${result === "held" ? "held for you to apply" : "refused: its preview failed"}`,
      body: [`"${head.subject}"`, `preview: ${decision.summary}`, ...decision.reasons.map((r) => `- ${r}`), result === "held" ? "Apply it by hand (pulumi up) once you have checked it." : "Fix it in a new commit."].join("\n"),
      priority: 4,
      tags: [result === "held" ? "hand" : "x"],
    });
    return next;
  }

  onPhase("up", head.commit);
  tools.log(`${short(head.commit)}: applying (${decision.summary})`);
  const up = await tools.up(head.commit);
  if (up.lockedBy) {
    // Nothing was changed: the commit is not handled yet, and the next trigger (a poll too) tries again.
    tools.log(`${short(head.commit)}: the stack is locked by ${up.lockedBy} (a pulumi up of yours?); nothing was changed, the next trigger tries again`);
    return { ...status, lastCheck: now().toISOString() };
  }
  if (up.exitCode === 0) {
    const next = recordResult(status, { ...head, result: "applied", summary: decision.summary, reasons: [], at: now().toISOString(), seconds: seconds() }, now());
    tools.log(`${short(head.commit)}: applied in ${seconds().toFixed(1)} s`);
    await tools.notify({ title: `homelab: ${short(head.commit)} applied`, body: `"${head.subject}"\n${decision.summary}, in ${seconds().toFixed(0)} s`, priority: 3, tags: ["white_check_mark"] });
    return next;
  }

  const lastGood = status.lastSuccess?.commit;
  let rollback = "no earlier commit was applied by this runner, so there was nothing to go back to";
  if (lastGood && lastGood !== head.commit) {
    onPhase("rollback", lastGood);
    tools.log(`${short(head.commit)}: up failed; applying the last good commit ${short(lastGood)} again`);
    await tools.checkout(lastGood);
    const back = await tools.up(lastGood);
    rollback = back.exitCode === 0 ? `the cluster was put back to ${short(lastGood)}` : `putting the cluster back to ${short(lastGood)} failed too:\n${back.tail}`;
  }
  const reasonsFailed = [up.tail, rollback];
  tools.log(`${short(head.commit)}: failed; ${rollback}`);
  const next = recordResult(status, { ...head, result: "failed", summary: decision.summary, reasons: reasonsFailed, at: now().toISOString(), seconds: seconds() }, now());
  await tools.notify({
    title: `homelab: ${short(head.commit)} failed to apply`,
    body: [`"${head.subject}"`, `preview: ${decision.summary}`, up.tail, rollback, "Push a fix, or run it again from the status page's run endpoint once the cause is gone."].join("\n"),
    priority: 4,
    tags: ["warning"],
  });
  return next;
}
