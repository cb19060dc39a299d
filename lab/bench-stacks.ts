/**
 * `npm run bench:stacks`: on a formed lab swarm, medians of 3 runs each of
 *   - `pulumi up` deploying every stack of the lab config (traefik, dns, whoami) onto the swarm
 *     with none (the stacks removed again, untimed, between runs),
 *   - a no-op `pulumi up --yes` (with its preview, as users run it) with every stack deployed,
 *   - `pulumi up` after one stack's config file changed (whoami's index.txt), and how many stacks
 *     that redeployed (from the preview's steps: `-deploy` resources not "same").
 * Last line: `stacks_up_seconds=… noop_up_seconds=… one_stack_change_seconds=… stacks_redeployed=…`.
 * Targets: no-op up with every stack ≤ 10 s; a one-stack change redeploys exactly 1 stack.
 */
import * as fs from "fs";
import * as path from "path";
import { labDown } from "./lab";
import { median } from "./median";
import { Pulumi, editStackConfig, labPulumi, refreshWorkingCopy, stackPaths, upWithLab } from "./stack";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const quiet = () => undefined;

async function timedUp(pulumi: Pulumi, args: string[] = ["--skip-preview"]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await pulumi(["up", "--yes", ...args], { allowFail: true });
  if (r.code !== 0) throw new Error(`pulumi up ${args.join(" ")} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** How many stacks the next up would redeploy. */
async function stacksToRedeploy(pulumi: Pulumi): Promise<number> {
  const steps = (JSON.parse((await pulumi(["preview", "--json"])).stdout) as { steps: { op: string; urn: string }[] }).steps;
  return steps.filter((s) => s.op !== "same" && s.urn.endsWith("-deploy") && s.urn.includes("homelab:platform")).length;
}

async function main(): Promise<void> {
  const pulumi = await labPulumi(log);
  await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  await labDown({ log: quiet });
  const noStacks = () =>
    editStackConfig((config) => {
      config["homelab:platform"] = { ...(config["homelab:platform"] as object), stacks: [] };
    });
  noStacks();
  log("forming the swarm without stacks ...");
  await upWithLab(pulumi, quiet);
  const stacksUp: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    refreshWorkingCopy();
    stacksUp.push(await timedUp(pulumi));
    log(`run ${i}: every stack onto the swarm ${stacksUp[i - 1].toFixed(1)} s`);
    if (i < RUNS) {
      noStacks();
      await timedUp(pulumi);
    }
  }
  const noop: number[] = [];
  const change: number[] = [];
  const redeployed: number[] = [];
  const page = path.join(stackPaths().project, "stacks", "whoami", "index.txt");
  try {
    for (let i = 1; i <= RUNS; i++) {
      noop.push(await timedUp(pulumi, ["--expect-no-changes"]));
      fs.appendFileSync(page, `bench run ${i}\n`);
      redeployed.push(await stacksToRedeploy(pulumi));
      change.push(await timedUp(pulumi));
      log(`run ${i}: no-op up ${noop[i - 1].toFixed(1)} s; one stack changed ${change[i - 1].toFixed(1)} s, ${redeployed[i - 1]} stack(s) redeployed`);
    }
  } finally {
    refreshWorkingCopy();
  }
  const fmt = (v: number) => v.toFixed(1);
  log(`every stack: ${stacksUp.map(fmt).join(", ")}; no-op: ${noop.map(fmt).join(", ")}; one change: ${change.map(fmt).join(", ")}`);
  process.stdout.write(
    `stacks_up_seconds=${fmt(median(stacksUp))} noop_up_seconds=${fmt(median(noop))} one_stack_change_seconds=${fmt(median(change))} stacks_redeployed=${Math.max(...redeployed)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
