import { NOT_YET_SEEN, NodeProbe, PlannedNode, labelArguments, planCluster, planSwarm, reformedAfter } from "./plan";

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

  test("a manager mid-election reports no ID: it is not taken for a second swarm", () => {
    const plan = planSwarm(nodes, { m1: { reachable: false }, m2: manager(""), m3: manager("c1"), w1: inactive });
    expect(plan).toEqual({ leader: "m2", newSwarm: false, clusterId: "c1" });
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

describe("planCluster", () => {
  const present = (machineId: string, clusterId?: string): NodeProbe => ({ reachable: true, machineId, swarmState: clusterId ? "active" : "inactive", isManager: clusterId !== undefined, clusterId });
  const worker = (machineId: string): NodeProbe => ({ reachable: true, machineId, swarmState: "active", isManager: false });
  const off: NodeProbe = { reachable: false };
  const converged = { leader: "m1", clusterId: "c1", reformedAfter: "", members: { m1: { machineId: "a", epoch: "" }, m2: { machineId: "b", epoch: "" }, m3: { machineId: "c", epoch: "" }, w1: { machineId: "d", epoch: "" } } };
  const living = { m1: present("a", "c1"), m2: present("b", "c1"), m3: present("c", "c1"), w1: worker("d") };

  test("every node answering: each is keyed on what it is now", () => {
    const plan = planCluster(nodes, living, converged, false);
    expect(plan.leader).toBe("m1");
    expect(plan.unreachable).toEqual([]);
    expect(Object.values(plan.members).map((m) => [m.name, m.status, m.record.machineId])).toEqual([
      ["m1", "present", "a"],
      ["m2", "present", "b"],
      ["m3", "present", "c"],
      ["w1", "present", "d"],
    ]);
    expect(plan.leaderIncarnation).toBe("m1:a");
    expect(plan.membershipKey).toBe("m1:manager,m2:manager,m3:manager,w1:worker");
  });

  test("a worker off keeps the incarnation the last run recorded", () => {
    const plan = planCluster(nodes, { ...living, w1: off }, converged, false);
    expect(plan.members.w1).toEqual({ name: "w1", status: "off", record: { machineId: "d", epoch: "" } });
    expect(plan.unreachable).toEqual(["w1"]);
    expect(plan.swarmUnreachable).toBe(false);
  });

  test("the leader off: the next manager in the swarm leads, the old leader keeps its record", () => {
    const plan = planCluster(nodes, { ...living, m1: off }, converged, false);
    expect(plan.leader).toBe("m2");
    expect(plan.newSwarm).toBe(false);
    expect(plan.epoch).toBe("");
    expect(plan.members.m1.status).toBe("off");
    expect(plan.leaderIncarnation).toBe("m2:b");
  });

  test("the leader off mid-election: managers without a raft leader report no ID, and the swarm keeps the last run's", () => {
    const electing = (machineId: string): NodeProbe => ({ reachable: true, machineId, swarmState: "active", isManager: true });
    const plan = planCluster(nodes, { m1: off, m2: electing("b"), m3: electing("c"), w1: worker("d") }, converged, true);
    expect(plan).toMatchObject({ leader: "m2", newSwarm: false, clusterId: "c1", epoch: "" });
    expect(plan.members.m2.record).toEqual({ machineId: "b", epoch: "" });
  });

  test("no manager of the swarm answers: nothing moves, no second swarm", () => {
    const plan = planCluster(nodes, { m1: off, m2: off, m3: off, w1: worker("d") }, converged, false);
    expect(plan.swarmUnreachable).toBe(true);
    expect(plan.leader).toBe("m1");
    expect(plan.epoch).toBe("");
    expect(Object.values(plan.members).every((m) => m.status === "off")).toBe(true);
    expect(plan.leaderIncarnation).toBe("m1:a");
  });

  test("a node never seen: planned as joining in a preview; in an up, no manager at all is an error with the fix", () => {
    const plan = planCluster(nodes, {}, {}, true);
    expect(plan.members.m1).toEqual({ name: "m1", status: "expected", record: { machineId: NOT_YET_SEEN, epoch: "" } });
    expect(() => planCluster(nodes, {}, {}, false)).toThrow(/no manager answered SSH \(m1, m2, m3\).*Fix: check they are powered/);
  });

  test("a lost swarm (every manager answers, none in a swarm) is formed again in a new epoch", () => {
    const reflashed = { m1: present("a2"), m2: present("b2"), m3: present("c2"), w1: present("d2") };
    const plan = planCluster(nodes, reflashed, converged, false);
    expect(plan.newSwarm).toBe(true);
    expect(plan.epoch).toBe("c1");
    expect(plan.members.w1.record).toEqual({ machineId: "d2", epoch: "c1" });
    expect(plan.leaderIncarnation).toBe("m1:a2:after-c1");
  });
});

describe("labelArguments", () => {
  test("sorted key=value pairs, whatever the config order", () => {
    expect(labelArguments({ zone: "a", disk: "ssd" })).toEqual(["disk=ssd", "zone=a"]);
    expect(labelArguments({})).toEqual([]);
  });
});
