/**
 * Swarm bootstrap on the lab over real SSH, with the same scripts and leader choice as the Pulumi
 * program (swarm/converge.ts): 3 managers + 1 worker Ready, a second run changes nothing, a stopped
 * manager keeps quorum and converge goes through another manager, rebuilt nodes rejoin the same
 * cluster. Not checked here (no IPVS in this kernel): service VIPs and the ingress routing mesh.
 */
import { ConvergeResult, ConvergeTarget, convergeSwarm } from "../../swarm/converge";
import { Inventory, rebuildNode, startNode, stopNode } from "../../lab/lab";
import { labTargets, leaveSwarm, swarmNodes, waitAllReady, waitNodeDown } from "../../lab/swarm";
import { ensureLab, seconds } from "./helpers";

let inv: Inventory;
let targets: ConvergeTarget[];
let first: ConvergeResult;
const log = (m: string) => process.stderr.write(`[swarm] ${m}\n`);
const byName = (name: string) => targets.find((t) => t.name === name)!;
const allNames = () => targets.map((t) => t.name);

beforeAll(async () => {
  inv = await ensureLab();
  targets = labTargets(inv);
  await leaveSwarm(targets); // start from nodes in no swarm, whatever ran before
});

test("bootstrap: 3 managers and 1 worker, all Ready, labels set", async () => {
  const t0 = Date.now();
  first = await convergeSwarm(targets, { log });
  const rows = await waitAllReady(byName("swarm-manager-2"), allNames());
  log(`bootstrap: ${seconds(t0).toFixed(1)} s`);
  expect(first.created).toBe(true);
  expect(first.leader).toBe("swarm-manager-1");
  expect(first.unreachable).toEqual([]);
  expect(first.clusterId).toMatch(/^[a-z0-9]{25}$/);
  expect(rows.map((r) => r.clusterId)).toEqual(rows.map(() => first.clusterId));
  const managers = rows.filter((r) => r.managerStatus !== "").map((r) => r.hostname).sort();
  expect(managers).toEqual(["swarm-manager-1", "swarm-manager-2", "swarm-manager-3"]);
  expect(rows.filter((r) => r.managerStatus === "Leader")).toHaveLength(1);
  expect(rows.find((r) => r.hostname === "swarm-worker-1")?.managerStatus).toBe("");
  // The worker's label from Pulumi.lab.yaml (storage: local).
  const { sshExec } = await import("../../lab/lab");
  const label = await sshExec(byName("swarm-manager-1"), "docker node inspect swarm-worker-1 --format '{{index .Spec.Labels \"storage\"}}'");
  expect(label.stdout.trim()).toBe("local");
});

test("a second run changes nothing", async () => {
  const before = await swarmNodes(byName("swarm-manager-1"));
  const again = await convergeSwarm(targets, { log });
  expect(again.created).toBe(false);
  expect(again.joined).toEqual([]);
  expect(again.clusterId).toBe(first.clusterId);
  expect(again.nodeIds).toEqual(first.nodeIds);
  const after = await swarmNodes(byName("swarm-manager-1"));
  const key = (rows: typeof before) => rows.map((r) => [r.id, r.hostname, r.status, r.availability]).sort();
  expect(key(after)).toEqual(key(before));
});

test("one manager down: quorum kept, converge goes through another manager", async () => {
  const down = first.leader;
  await stopNode(down);
  try {
    const other = targets.find((t) => t.role === "manager" && t.name !== down)!;
    // The remaining two managers elect a leader and still answer `docker node ls` (needs quorum).
    const deadline = Date.now() + 60000;
    let rows = await swarmNodes(other).catch(() => []);
    while (!rows.some((r) => r.managerStatus === "Leader") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      rows = await swarmNodes(other).catch(() => []);
    }
    expect(rows.find((r) => r.managerStatus === "Leader")?.hostname).not.toBe(down);
    const res = await convergeSwarm(targets, { log });
    expect(res.unreachable).toEqual([down]);
    expect(res.leader).not.toBe(down);
    expect(res.created).toBe(false);
    expect(res.clusterId).toBe(first.clusterId);
  } finally {
    await startNode(down);
  }
  // Back, it rejoins by itself (same node, same state) as a raft member.
  const rows = await waitAllReady(byName("swarm-manager-2"), allNames());
  expect(rows.find((r) => r.hostname === down)?.managerStatus).toMatch(/Leader|Reachable/);
  expect(rows.find((r) => r.hostname === down)?.id).toBe(first.nodeIds[down]);
});

test("a rebuilt manager rejoins the same cluster (no second swarm), its stale entry removed", async () => {
  const name = "swarm-manager-1";
  const oldId = first.nodeIds[name];
  await rebuildNode(name);
  // As after a real re-flash, the swarm has noticed the old incarnation is gone before it is back.
  await waitNodeDown(byName("swarm-manager-2"), oldId);
  const res = await convergeSwarm(targets, { log });
  expect(res.created).toBe(false);
  expect(res.clusterId).toBe(first.clusterId);
  expect(res.joined).toEqual([name]);
  expect(res.nodeIds[name]).not.toBe(oldId);
  const rows = await waitAllReady(byName("swarm-manager-3"), allNames());
  expect(rows.map((r) => r.id)).not.toContain(oldId);
  expect(rows.find((r) => r.hostname === name)?.managerStatus).toMatch(/Leader|Reachable/);
  expect(new Set(rows.map((r) => r.clusterId))).toEqual(new Set([first.clusterId]));
});

test("a rebuilt worker rejoins the same cluster with its labels", async () => {
  const name = "swarm-worker-1";
  const oldId = (await swarmNodes(byName("swarm-manager-2"))).find((r) => r.hostname === name)!.id;
  await rebuildNode(name);
  // No wait for the old entry to go Down: a 2 s rebuild is faster than the swarm notices, and the
  // stale entry must still be told apart (by the ID join.sh reports) and removed.
  const res = await convergeSwarm(targets, { log });
  expect(res.created).toBe(false);
  expect(res.clusterId).toBe(first.clusterId);
  expect(res.joined).toEqual([name]);
  const rows = await waitAllReady(byName("swarm-manager-2"), allNames());
  expect(rows.map((r) => r.id)).not.toContain(oldId);
  expect(rows.find((r) => r.hostname === name)?.managerStatus).toBe("");
  const { sshExec } = await import("../../lab/lab");
  const label = await sshExec(byName("swarm-manager-2"), `docker node inspect ${name} --format '{{index .Spec.Labels "storage"}}'`);
  expect(label.stdout.trim()).toBe("local");
});
