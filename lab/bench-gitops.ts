/**
 * `npm run bench:gitops`: the GitOps runner as the program deploys it, a Swarm service on the lab
 * (lab/gitops.ts setUpClusterGitOps: the state on the S3 stand-in, webhooks through Traefik),
 * follows a real git repository of the stack. `-- --host` times the runner as a process on this
 * host instead (setUpLabGitOps: local state, webhooks on loopback). Each of BENCH_RUNS (3) runs
 * commits a label change on swarm-worker-1, sends a signed push webhook, and times it until the
 * runner reports the commit applied and the swarm has the label (converged). The runner's first
 * run (taking over from the laptop) is untimed.
 * Last line: `commit_to_applied_seconds=<median> runs=<each>`.
 */
import { GitOpsHarness, setUpClusterGitOps, setUpLabGitOps, swarmLabel, withLabel } from "./gitops";
import { S3Standin } from "./s3";
import { labDown } from "./lab";
import { median } from "./median";
import { sleep } from "./exec";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const log = (line: string) => process.stderr.write(`[bench-gitops] ${line}\n`);

async function main(): Promise<void> {
  let harness: GitOpsHarness | undefined;
  let s3: S3Standin | undefined;
  let result = "";
  try {
    if (process.argv.includes("--host")) {
      ({ harness } = await setUpLabGitOps(log));
      await harness.startRunner();
    } else {
      ({ harness, s3 } = await setUpClusterGitOps(log));
    }
    const h = harness;
    await h.handled(h.head(), 900);
    log("the runner has taken over the stack; timing commits");
    const seconds: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const value = `bench-${i}`;
      const commit = h.commit(`bench run ${i}`, (c) => withLabel(c, "swarm-worker-1", "bench", value));
      const t0 = process.hrtime.bigint();
      const answer = await h.push(commit);
      if (answer.status !== 202) throw new Error(`the webhook was answered ${answer.status}: ${answer.text}`);
      const status = await h.handled(commit, 900);
      if (status.lastCommit?.result !== "applied") throw new Error(`commit ${commit.slice(0, 12)} was ${status.lastCommit?.result}: ${status.lastCommit?.reasons.join("; ")}`);
      while ((await swarmLabel("swarm-worker-1", "bench")) !== value) await sleep(200);
      seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
      log(`run ${i}: webhook to converged ${seconds[i - 1].toFixed(1)} s (${status.lastCommit.summary})`);
    }
    result = `commit_to_applied_seconds=${median(seconds).toFixed(1)} runs=${seconds.map((s) => s.toFixed(1)).join(",")}`;
  } finally {
    await harness?.close();
    s3?.stop();
    await labDown({ log: () => undefined });
  }
  // After the runner has stopped, so that no log line of it comes after.
  process.stdout.write(`${result}\n`);
}

main().catch((error: Error) => {
  log(`failed: ${error.message}`);
  process.exit(1);
});
