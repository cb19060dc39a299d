/**
 * `npm run bench:up`: medians of 3 runs each of
 *   - the first `pulumi up` on fresh lab nodes (nodes boot from the Ignition that run writes),
 *   - a no-op `pulumi up --yes` (with its preview, as users run it) on the converged cluster,
 *   - `pulumi preview` on the converged cluster.
 * Last line: `up_seconds=… noop_up_seconds=… preview_seconds=…`. Targets: no-op up ≤ 15 s, preview ≤ 10 s.
 */
import { labDown } from "./lab";
import { median } from "./median";
import { Pulumi, labPulumi, upWithLab } from "./stack";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const quiet = () => undefined;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function mustSucceed(pulumi: Pulumi, args: string[]): Promise<void> {
  const r = await pulumi(args, { allowFail: true });
  if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
}

async function main(): Promise<void> {
  const pulumi = await labPulumi(log);
  const up: number[] = [];
  const noop: number[] = [];
  const preview: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
    await labDown({ log: quiet });
    up.push(await timed(() => upWithLab(pulumi, quiet)));
    log(`run ${i}: first up ${up[i - 1].toFixed(1)} s`);
  }
  for (let i = 1; i <= RUNS; i++) {
    noop.push(await timed(() => mustSucceed(pulumi, ["up", "--yes", "--expect-no-changes"])));
    preview.push(await timed(() => mustSucceed(pulumi, ["preview", "--expect-no-changes"])));
    log(`run ${i}: no-op up ${noop[i - 1].toFixed(1)} s, preview ${preview[i - 1].toFixed(1)} s`);
  }
  const fmt = (v: number) => v.toFixed(1);
  log(`first up: ${up.map(fmt).join(", ")}; no-op up: ${noop.map(fmt).join(", ")}; preview: ${preview.map(fmt).join(", ")}`);
  process.stdout.write(`up_seconds=${fmt(median(up))} noop_up_seconds=${fmt(median(noop))} preview_seconds=${fmt(median(preview))}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
