/**
 * Swarm helpers for the lab's tests and benchmarks: list the swarm as a manager sees it, wait for
 * it to be Ready, and reset the nodes (every node leaves its swarm). They only observe or undo;
 * forming the swarm is the Pulumi program's job (lab/stack.ts runs it).
 */
import * as fs from "fs";
import * as path from "path";
import { sleep } from "./exec";
import { Inventory, readInventory, sshExec } from "./lab";

/** A lab node by name and address, as the inventory lists it. */
export interface LabTarget {
  readonly name: string;
  readonly role: string;
  readonly address: string;
  readonly port: number;
}

export function labTargets(inv: Inventory = readInventory()): LabTarget[] {
  return inv.nodes.map((n) => ({ name: n.name, role: n.role, address: n.address, port: n.port }));
}

export interface SwarmNodeRow {
  id: string;
  hostname: string;
  status: string;
  availability: string;
  /** Leader / Reachable / Unreachable for managers, "" for workers. */
  managerStatus: string;
  clusterId: string;
}

/** `docker node ls` on a manager (lab/node-scripts/swarm-nodes.sh over SSH). */
export async function swarmNodes(manager: LabTarget): Promise<SwarmNodeRow[]> {
  const script = fs.readFileSync(path.join(__dirname, "node-scripts", "swarm-nodes.sh"), "utf8");
  const r = await sshExec(manager, "bash -s", { input: script, timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`swarm-nodes.sh on ${manager.name}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id, hostname, status, availability, managerStatus, clusterId] = line.split("\t");
      return { id, hostname, status, availability, managerStatus: managerStatus ?? "", clusterId: clusterId ?? "" };
    });
}

/**
 * Waits until the swarm, as `manager` sees it, has exactly `names`, all Ready (managers also
 * Leader/Reachable in raft).
 */
export async function waitAllReady(manager: LabTarget, names: string[], timeoutMs = 120000): Promise<SwarmNodeRow[]> {
  const deadline = Date.now() + timeoutMs;
  let last: SwarmNodeRow[] | string = "";
  while (Date.now() < deadline) {
    try {
      const rows = await swarmNodes(manager);
      last = rows;
      // Ready, and for managers also in raft (Leader or Reachable, not Unreachable).
      const ready = rows
        .filter((r) => r.status === "Ready" && (r.managerStatus === "" || /^(Leader|Reachable)$/.test(r.managerStatus)))
        .map((r) => r.hostname)
        .sort();
      if (rows.length === names.length && JSON.stringify(ready) === JSON.stringify([...names].sort())) return rows;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`swarm not all Ready after ${timeoutMs / 1000} s: ${JSON.stringify(last)}`);
}

/** Makes every node leave its swarm (workers first), as if reflashed, so the next `pulumi up` forms a new one. */
export async function leaveSwarm(targets: readonly LabTarget[]): Promise<void> {
  for (const group of [targets.filter((t) => t.role !== "manager"), targets.filter((t) => t.role === "manager")]) {
    await Promise.all(
      group.map(async (t) => {
        const r = await sshExec(t, "docker swarm leave --force >/dev/null 2>&1 || docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx inactive");
        if (r.code !== 0) throw new Error(`leaving the swarm on ${t.name}: exit ${r.code}: ${r.stderr.trim()}`);
      }),
    );
  }
}

/**
 * Waits until `manager` sees swarm node `id` as Down. A rebuilt Pi is off for minutes, so by the
 * time it is back its old entry is Down; a lab rebuild takes 2 s, faster than the swarm notices.
 */
export async function waitNodeDown(manager: LabTarget, id: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const row = (await swarmNodes(manager).catch(() => [])).find((r) => r.id === id);
    if (!row || row.status === "Down") return;
    await sleep(500);
  }
  throw new Error(`swarm node ${id} still not Down after ${timeoutMs / 1000} s`);
}
