/**
 * Swarm bootstrap benchmark on the lab (npm run bench:bootstrap): seconds from "every node answers
 * SSH" to "every node Ready in one swarm" (managers also Reachable in raft), with the converge
 * runner the tests use (swarm/converge.ts). Three runs; between runs every node leaves the swarm.
 * Prints each run, then `bootstrap_seconds=<median>` as the last line of stdout.
 */
import { convergeSwarm } from "../swarm/converge";
import { labUp, sshExec } from "./lab";
import { labTargets, leaveSwarm, waitAllReady } from "./swarm";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function main(): Promise<void> {
  const log = (l: string) => process.stderr.write(`[bench] ${l}\n`);
  const inv = await labUp({ log: (l) => process.stderr.write(`[lab] ${l}\n`) });
  const targets = labTargets(inv);
  const names = targets.map((t) => t.name);
  const manager = targets.find((t) => t.role === "manager")!;
  const times: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    await leaveSwarm(targets);
    // Start the clock once every node is reachable (as after boot), not before.
    const reach = await Promise.all(targets.map((t) => sshExec(t, "true", { timeoutMs: 20000 })));
    const bad = targets.filter((_, k) => reach[k].code !== 0).map((t) => t.name);
    if (bad.length) throw new Error(`not reachable over SSH: ${bad.join(", ")}`);
    const t0 = process.hrtime.bigint();
    const res = await convergeSwarm(targets, { log });
    if (!res.created) throw new Error("expected a new swarm after every node left");
    await waitAllReady(manager, names);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    times.push(s);
    process.stdout.write(`run ${i}: ${s.toFixed(2)} s (cluster ${res.clusterId})\n`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  process.stdout.write(`bootstrap_seconds=${median.toFixed(2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
