import * as path from "path";
import { loadStackConfigFile } from "../config/load";
import { loadStacks, stacksToLoad } from "../config/stacks";
import { BudgetNode, RESERVABLE_SHARE, constraintAllows, overcommitted, reservationsByNode } from "./budget";
import { parseStack } from "./load";

const MIB = 1024 * 1024;
const nodes: BudgetNode[] = [
  { name: "m1", role: "manager", labels: {}, memoryMiB: 2048 },
  { name: "m2", role: "manager", labels: {}, memoryMiB: 2048 },
  { name: "w1", role: "worker", labels: { storage: "ssd" }, memoryMiB: 4096 },
];

function stack(services: string): ReturnType<typeof parseStack> {
  return parseStack("s", "stacks/s/compose.yml", `services:\n${services}`, () => "");
}

/** One service block with a reservation and the given extra deploy lines. */
const service = (name: string, reserveMiB: number, deploy: string) =>
  `  ${name}:\n    image: x/y:1.0\n    deploy:\n${deploy}      resources:\n        limits: { memory: "${reserveMiB * 2}M" }\n        reservations: { memory: "${reserveMiB}M" }\n`;

const reserved = (stacks: ReturnType<typeof parseStack>[]) =>
  Object.fromEntries(reservationsByNode(nodes, stacks).map((r) => [r.node, r.reservedBytes / MIB]));

describe("memory budget", () => {
  test("constraints on role, hostname and labels pick the nodes; others count everywhere", () => {
    expect(nodes.filter((n) => constraintAllows("node.role == manager", n)).map((n) => n.name)).toEqual(["m1", "m2"]);
    expect(nodes.filter((n) => constraintAllows("node.role!=manager", n)).map((n) => n.name)).toEqual(["w1"]);
    expect(nodes.filter((n) => constraintAllows("node.hostname == m2", n)).map((n) => n.name)).toEqual(["m2"]);
    expect(nodes.filter((n) => constraintAllows("node.labels.storage == ssd", n)).map((n) => n.name)).toEqual(["w1"]);
    expect(nodes.filter((n) => constraintAllows("node.platform.arch == aarch64", n)).map((n) => n.name)).toEqual(["m1", "m2", "w1"]);
  });

  test("global counts on every eligible node; replicas spread; zero replicas (asleep) count nowhere", () => {
    const s = stack(
      service("agent", 64, "      mode: global\n") +
        service("web", 100, "      replicas: 3\n      placement:\n        constraints: [node.role == manager]\n") +
        service("db", 300, "      placement:\n        constraints: [node.labels.storage == ssd]\n") +
        service("jit", 500, "      replicas: 0\n"),
    );
    // web: 3 replicas over 2 managers → up to 2 on each (ceil).
    expect(reserved([s])).toEqual({ m1: 64 + 200, m2: 64 + 200, w1: 64 + 300 });
  });

  test("max_replicas_per_node caps the spread", () => {
    const s = stack(service("web", 100, "      replicas: 4\n      placement:\n        max_replicas_per_node: 1\n"));
    expect(reserved([s])).toEqual({ m1: 100, m2: 100, w1: 100 });
  });

  test("a node over 75% is named with its numbers, the largest services and the fix", () => {
    const s = stack(service("big", 1600, "      placement:\n        constraints: [node.hostname == m1]\n"));
    const over = overcommitted(reservationsByNode(nodes, [s]));
    expect(over).toEqual([
      {
        node: "m1",
        message: expect.stringMatching(/^always-on services would reserve 1600 MiB of its 2048 MiB \(78%, more than 75%; largest: s\/big 1600 MiB\)\. Fix: .*memoryMiB/),
      },
    ]);
    expect(RESERVABLE_SHARE).toBe(0.75);
  });

  test("just-in-time services (asleep until a request) count nowhere", () => {
    const s = stack(service("web", 100, "") + service("vault", 400, ""));
    const asleep = Object.fromEntries(reservationsByNode(nodes, [s], new Set(["s/vault"])).map((r) => [r.node, r.reservedBytes / MIB]));
    expect(asleep).toEqual({ m1: 100, m2: 100, w1: 100 });
    expect(reserved([s])).toEqual({ m1: 500, m2: 500, w1: 500 });
  });

  // The check every stack added to a default config must pass: the always-on services of every node
  // (the just-in-time apps counted as off) reserve at most 75% of its RAM (homelab:nodes[].memoryMiB).
  test("the default configs' stacks fit: every node reserves at most 75% of its RAM", () => {
    for (const stackConfig of ["Pulumi.homelab.yaml", "Pulumi.lab.yaml"]) {
      const { config } = loadStackConfigFile(path.join(__dirname, "..", stackConfig));
      const stacks = loadStacks(config, path.join(__dirname, "..", "stacks"), () => true);
      // The backup agent's stack joins when a stack has a volume to back up (compose/backupAgent.test.ts).
      expect(stacks.map((s) => s.name).filter((name) => name !== "backup")).toEqual(stacksToLoad(config.platform));
      const byNode = reservationsByNode(config.nodes, stacks, new Set(config.platform.jit.map((j) => j.service)));
      process.stderr.write(`${stackConfig}: ${byNode.map((r) => `${r.node} ${Math.round(r.reservedBytes / MIB)}/${Math.round(r.totalBytes / MIB)} MiB`).join(", ")}\n`);
      for (const r of byNode) expect(r.reservedBytes).toBeLessThanOrEqual(RESERVABLE_SHARE * r.totalBytes);
    }
  });
});
