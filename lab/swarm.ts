/**
 * Swarm helpers for the lab's tests and benchmark: converge targets from the inventory, list the
 * swarm as a manager sees it, and reset the nodes (every node leaves its swarm).
 */
import * as fs from "fs";
import * as path from "path";
import { loadLabSpec } from "./config";
import { sleep } from "./exec";
import { Inventory, readInventory, sshExec } from "./lab";
import { ConvergeTarget } from "../swarm/converge";
import { runOverSsh } from "../swarm/ssh";
import { scriptInvocation } from "../swarm/scripts";

/** The converge runner's targets for the lab nodes: inventory (SSH) plus role/labels/availability from the config. */
export function labTargets(inv: Inventory = readInventory()): ConvergeTarget[] {
  const spec = loadLabSpec();
  return inv.nodes.map((n) => {
    const s = spec.nodes.find((x) => x.name === n.name);
    if (!s) throw new Error(`inventory node ${n.name} is not in ${spec.configPath}`);
    return {
      name: n.name,
      role: n.role,
      address: n.address,
      port: n.port,
      user: n.user,
      privateKeyPath: n.privateKeyPath,
      knownHostsPath: n.knownHostsPath,
      labels: s.labels,
      availability: s.availability,
    };
  });
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
export async function swarmNodes(manager: ConvergeTarget): Promise<SwarmNodeRow[]> {
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
export async function waitAllReady(manager: ConvergeTarget, names: string[], timeoutMs = 120000): Promise<SwarmNodeRow[]> {
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

/** Makes every node leave its swarm (workers first), so the next converge starts a new one. */
export async function leaveSwarm(targets: readonly ConvergeTarget[]): Promise<void> {
  for (const group of [targets.filter((t) => t.role !== "manager"), targets.filter((t) => t.role === "manager")]) {
    await Promise.all(
      group.map(async (t) => {
        const r = await runOverSsh(t, scriptInvocation("leave"));
        if (r.code !== 0) throw new Error(`leave.sh on ${t.name}: exit ${r.code}: ${r.stderr.trim()}`);
      }),
    );
  }
}

/**
 * Waits until `manager` sees swarm node `id` as Down. A rebuilt Pi is off for minutes, so by the
 * time it is back its old entry is Down; a lab rebuild takes 2 s, faster than the swarm notices.
 */
export async function waitNodeDown(manager: ConvergeTarget, id: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const row = (await swarmNodes(manager).catch(() => [])).find((r) => r.id === id);
    if (!row || row.status === "Down") return;
    await sleep(500);
  }
  throw new Error(`swarm node ${id} still not Down after ${timeoutMs / 1000} s`);
}
