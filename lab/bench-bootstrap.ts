/**
 * `npm run bench:bootstrap`: seconds from "every node answers SSH" to "every node Ready in one
 * swarm" (managers also Reachable in raft), through the program itself: `pulumi up` of the lab
 * stack with the real engine. Each run starts with every node out of its swarm (as after the
 * whole cluster was reflashed, state kept), so the up probes, inits on the leader, reads tokens,
 * joins every node, sets labels and rotates the tokens: the whole bootstrap chain. Three runs
 * (BENCH_RUNS); prints each, then `bootstrap_seconds=<median>` as the last line of stdout.
 * Not in the number: booting the nodes and writing the Ignition files (bench:up has those).
 */
import { labDown, sshExec } from "./lab";
import { Pulumi, labPulumi, upWithLab } from "./stack";
import { labTargets, leaveSwarm, waitAllReady } from "./swarm";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const quiet = () => undefined;

async function mustSucceed(pulumi: Pulumi, args: string[]): Promise<void> {
  const r = await pulumi(args, { allowFail: true });
  if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

async function main(): Promise<void> {
  const pulumi = await labPulumi(log);
  // Nodes flashed with this stack's Ignition (a lab started otherwise lacks its deploy key), and a
  // converged stack on them to start from.
  await labDown({ log: quiet });
  await upWithLab(pulumi, log);
  const targets = labTargets();
  const names = targets.map((t) => t.name);
  const manager = targets.find((t) => t.role === "manager")!;
  const times: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    await leaveSwarm(targets);
    const reach = await Promise.all(targets.map((t) => sshExec(t, "true", { timeoutMs: 20000 })));
    const bad = targets.filter((_, k) => reach[k].code !== 0).map((t) => t.name);
    if (bad.length) throw new Error(`not reachable over SSH: ${bad.join(", ")}`);
    const t0 = process.hrtime.bigint();
    await mustSucceed(pulumi, ["up", "--yes", "--skip-preview"]);
    await waitAllReady(manager, names);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    times.push(s);
    process.stdout.write(`run ${i}: ${s.toFixed(2)} s\n`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  process.stdout.write(`bootstrap_seconds=${sorted[Math.floor(sorted.length / 2)].toFixed(2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
