/**
 * Memory is what a 2 GB Pi runs out of: how much of each node the always-on services reserve,
 * from the stacks' reservations, modes, replicas and placement constraints.
 */
import { StackSource } from "./types";

/** What the budget needs to know about a node. */
export interface BudgetNode {
  readonly name: string;
  readonly role: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly memoryMiB: number;
}

export interface NodeReservation {
  readonly node: string;
  readonly reservedBytes: number;
  readonly totalBytes: number;
  /** `stack/service` that may run there, with the bytes each reserves on this node. */
  readonly services: readonly { readonly service: string; readonly bytes: number }[];
}

/** The share of a node's RAM the always-on services may reserve: the rest is the OS, docker and a failover's room. */
export const RESERVABLE_SHARE = 0.75;

const MIB = 1024 * 1024;
const CONSTRAINT = /^\s*node\.(role|hostname|labels\.([A-Za-z0-9._-]+))\s*(==|!=)\s*(\S+)\s*$/;

/**
 * Whether a placement constraint lets a service run on a node. Constraints on anything else
 * (node.id, node.platform.*, engine.labels.*) are taken as matching every node: the estimate then
 * counts the service everywhere, which can only overstate a node's load.
 */
export function constraintAllows(constraint: string, node: BudgetNode): boolean {
  const m = CONSTRAINT.exec(constraint);
  if (!m) return true;
  const [, field, label, op, value] = m;
  const actual = field === "role" ? node.role : field === "hostname" ? node.name : node.labels[label];
  return op === "==" ? actual === value : actual !== value;
}

interface Deploy {
  mode?: unknown;
  replicas?: unknown;
  placement?: { constraints?: unknown; max_replicas_per_node?: unknown };
}

/**
 * Per node, the memory the always-on services reserve. A global service counts on every node
 * its constraints allow. A replicated one with N replicas over E eligible nodes counts
 * ceil(N / E) replicas on each (Swarm spreads replicas over nodes; capped by
 * max_replicas_per_node); with 0 replicas, or named in `asleep` (`<stack>/<service>`: the
 * just-in-time services, woken only when their node has room), it counts nowhere.
 * This is the steady state with every node up: the 25% left over is the room for a node's tasks
 * when another one is off.
 */
export function reservationsByNode(nodes: readonly BudgetNode[], stacks: readonly StackSource[], asleep: ReadonlySet<string> = new Set()): NodeReservation[] {
  const perNode = new Map(nodes.map((n) => [n.name, [] as { service: string; bytes: number }[]]));
  for (const stack of stacks) {
    const services = (stack.document.services ?? {}) as Record<string, { deploy?: Deploy }>;
    for (const name of stack.services) {
      if (asleep.has(`${stack.name}/${name}`)) continue;
      const reservation = stack.memory?.[name]?.reservation ?? 0;
      const deploy = services[name]?.deploy ?? {};
      const constraints = Array.isArray(deploy.placement?.constraints) ? (deploy.placement!.constraints as string[]) : [];
      const eligible = nodes.filter((n) => constraints.every((c) => constraintAllows(c, n)));
      if (eligible.length === 0 || reservation === 0) continue;
      let perEligible: number;
      if (deploy.mode === "global") perEligible = 1;
      else {
        const replicas = typeof deploy.replicas === "number" ? deploy.replicas : 1;
        perEligible = Math.ceil(replicas / eligible.length);
        const cap = deploy.placement?.max_replicas_per_node;
        if (typeof cap === "number" && cap > 0) perEligible = Math.min(perEligible, cap);
      }
      if (perEligible === 0) continue;
      for (const node of eligible) perNode.get(node.name)!.push({ service: `${stack.name}/${name}`, bytes: perEligible * reservation });
    }
  }
  return nodes.map((n) => {
    const services = perNode.get(n.name)!;
    return { node: n.name, reservedBytes: services.reduce((sum, s) => sum + s.bytes, 0), totalBytes: n.memoryMiB * MIB, services };
  });
}

/** The nodes whose always-on reservations exceed RESERVABLE_SHARE of their RAM, each as a sentence with the fix. */
export function overcommitted(reservations: readonly NodeReservation[]): { node: string; message: string }[] {
  return reservations
    .filter((r) => r.reservedBytes > RESERVABLE_SHARE * r.totalBytes)
    .map((r) => {
      const mib = (bytes: number) => Math.round(bytes / MIB);
      const top = [...r.services].sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((s) => `${s.service} ${mib(s.bytes)} MiB`).join(", ");
      return {
        node: r.node,
        message: `always-on services would reserve ${mib(r.reservedBytes)} MiB of its ${mib(r.totalBytes)} MiB (${Math.round((100 * r.reservedBytes) / r.totalBytes)}%, more than ${RESERVABLE_SHARE * 100}%; largest: ${top}). Fix: lower their deploy.resources.reservations.memory, pin some to other nodes with placement constraints, or set this node's memoryMiB if it has more RAM.`,
      };
    });
}
