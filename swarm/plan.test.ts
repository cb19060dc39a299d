import { NodeProbe, PlannedNode, planSwarm, reformedAfter } from "./plan";

const nodes: PlannedNode[] = [
  { name: "m1", role: "manager", address: "10.0.0.1" },
  { name: "m2", role: "manager", address: "10.0.0.2" },
  { name: "m3", role: "manager", address: "10.0.0.3" },
  { name: "w1", role: "worker", address: "10.0.0.11" },
];
const inactive: NodeProbe = { reachable: true, swarmState: "inactive", isManager: false };
const manager = (clusterId: string): NodeProbe => ({ reachable: true, swarmState: "active", isManager: true, clusterId });

describe("planSwarm", () => {
  test("a fresh cluster starts a new swarm on the first manager", () => {
    expect(planSwarm(nodes, { m1: inactive, m2: inactive, m3: inactive, w1: inactive })).toEqual({ leader: "m1", newSwarm: true });
  });

  test("nodes not reachable yet: the first manager still leads", () => {
    expect(planSwarm(nodes, {})).toEqual({ leader: "m1", newSwarm: true });
  });

  test("a rebuilt manager-1 does not start a second swarm: the first manager in a swarm leads", () => {
    expect(planSwarm(nodes, { m1: inactive, m2: manager("c1"), m3: manager("c1"), w1: inactive })).toEqual({
      leader: "m2",
      newSwarm: false,
      clusterId: "c1",
    });
  });

  test("the previous leader keeps leading while it manages the swarm, even when manager-1 is back", () => {
    const probes = { m1: manager("c1"), m2: manager("c1"), m3: manager("c1"), w1: inactive };
    expect(planSwarm(nodes, probes, "m2").leader).toBe("m2");
    expect(planSwarm(nodes, { ...probes, m2: inactive }, "m2").leader).toBe("m1");
    expect(planSwarm(nodes, probes, "gone").leader).toBe("m1");
  });

  test("a worker in a swarm does not make a leader", () => {
    const worker: NodeProbe = { reachable: true, swarmState: "active", isManager: false };
    expect(planSwarm(nodes, { m1: inactive, w1: worker }).leader).toBe("m1");
  });

  test("managers in two swarms: refuse, naming them and the fix", () => {
    expect(() => planSwarm(nodes, { m1: manager("c1"), m2: manager("c2") })).toThrow(/m1 in c1, m2 in c2.*Fix: .*docker swarm leave --force/);
  });

  test("no managers: refuse", () => {
    expect(() => planSwarm([nodes[3]], {})).toThrow(/no managers/);
  });
});

describe("reformedAfter", () => {
  const fresh = { leader: "m1", newSwarm: true };
  const living = { leader: "m1", newSwarm: false, clusterId: "c1" };
  test("a first run and a living swarm keep the epoch", () => {
    expect(reformedAfter(fresh, {})).toBe("");
    expect(reformedAfter(living, { clusterId: "c1" })).toBe("");
    expect(reformedAfter(living, { clusterId: "c2", reformedAfter: "c1" })).toBe("c1");
  });
  test("the swarm the last run formed is gone: a new epoch, once", () => {
    expect(reformedAfter(fresh, { clusterId: "c1" })).toBe("c1");
    const next = reformedAfter({ ...living, clusterId: "c2" }, { clusterId: "c2", reformedAfter: "c1" });
    expect(next).toBe("c1");
  });
});
