/**
 * The resource graph of the program under Pulumi mocks (no engine, no SSH), wiring included: the
 * mock monitor is wrapped so each registration's options (dependsOn, deleteBeforeReplace,
 * ignoreChanges, deletedWith, additionalSecretOutputs, aliases) are recorded as the engine would
 * get them. What this does not cover: whether the commands work on a node and what the engine
 * does with the options (the e2e suite, against the lab with the real engine).
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { loadStackConfigFile } from "../config/load";
import { HomelabConfig } from "../config/schema";
import { MemberRecord, NodeProbe } from "../swarm/plan";
import { Registration, recordRegistrations } from "./registrations.testing";

type Recorded = Registration;

let resources: Recorded[] = [];
let probes: Record<string, NodeProbe> = {};
let lastOutputs: Record<string, unknown> = {};
/** How many reads of the last run's outputs fail first (the file backend's half-written state). */
let failingReads = 0;
const probedStdin: string[] = [];

const config = loadStackConfigFile(path.join(__dirname, "..", "Pulumi.homelab.yaml")).config;

function probeStdout(address: string): string {
  const node = config.nodes.find((n) => n.address === address)!;
  const p = probes[node.name] ?? { reachable: false };
  if (!p.reachable) return "reachable=false\n";
  return ["reachable=true", `machine_id=${p.machineId}`, `swarm_state=${p.swarmState}`, `is_manager=${p.isManager}`, `cluster_id=${p.clusterId ?? ""}`].join("\n");
}

/** A 25-character swarm node ID per join resource, as join.sh prints it. */
function nodeIdOf(resourceName: string): string {
  return resourceName.replace(/[^a-z0-9]/g, "").padEnd(25, "0").slice(-25);
}


pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") {
        state.publicKeyOpenssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo\n";
        state.privateKeyOpenssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n-----END OPENSSH PRIVATE KEY-----\n";
      }
      if (args.type === "command:remote:Command") {
        const create = String(args.inputs.create ?? "");
        if (args.name.endsWith("-init")) state.stdout = "cluster_id=cluster-abc\ncreated=true\n";
        else if (create.includes("--rotate")) state.stdout = "worker=SWMTKN-1-rotatedworker\nmanager=SWMTKN-1-rotatedmanager\n";
        else if (args.name.endsWith("-join-tokens")) state.stdout = "worker=SWMTKN-1-worker\nmanager=SWMTKN-1-manager\nnode_ids=abc,def\n";
        else if (args.name.endsWith("-join")) state.stdout = `joined=true\nnode_id=${nodeIdOf(args.name)}\n`;
        else state.stdout = "";
      }
      return { id: `${args.name}-id`, state };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      if (args.token === "command:local:run") {
        probedStdin.push(String(args.inputs.stdin));
        const address = String(args.inputs.command).split(" ").slice(-4)[0];
        return { ...args.inputs, stdout: probeStdout(address), stderr: "" };
      }
      if (args.token === "pulumi:pulumi:readStackOutputs") {
        if (failingReads > 0) {
          failingReads--;
          throw new Error("failed to load checkpoint: EOF");
        }
        return { name: args.inputs.name, outputs: lastOutputs, secretOutputNames: ["joinTokens"] };
      }
      throw new Error(`unexpected invoke ${args.token}`);
    },
  },
  "homelab",
  "homelab",
  false,
  "organization",
);

recordRegistrations((r) => resources.push(r));

// Imported after the mocks are set, as Pulumi's unit-testing guide requires.
import { Homelab } from "./homelab";
import { readLastRun } from "./lastRun";

function value<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

async function build(previous: Record<string, unknown> = {}, stackConfig: HomelabConfig = config): Promise<Homelab> {
  resources = [];
  lastOutputs = previous;
  const homelab = new Homelab("homelab", { config: stackConfig, ignitionDir: "out/homelab/ignition", previous: readLastRun() });
  await value(homelab.swarm.joinTokens);
  await new Promise((r) => setTimeout(r, 50));
  return homelab;
}

const ofType = (type: string) => resources.filter((r) => r.type === type);
const named = (suffix: string) => resources.filter((r) => r.name.endsWith(suffix));
const one = (suffix: string) => {
  const found = named(suffix);
  if (found.length !== 1) throw new Error(`expected one resource named *${suffix}, got ${found.map((r) => r.name).join(", ") || "none"}`);
  return found[0];
};
const urnOf = (suffix: string) => one(suffix).urn;

const fresh = (): Record<string, NodeProbe> =>
  Object.fromEntries(config.nodes.map((n, i) => [n.name, { reachable: true, machineId: `m${i}`, swarmState: "inactive", isManager: false }]));
const inSwarm = (): Record<string, NodeProbe> =>
  Object.fromEntries(
    config.nodes.map((n, i) => [n.name, { reachable: true, machineId: `m${i}`, swarmState: "active", isManager: n.role === "manager", clusterId: n.role === "manager" ? "cluster-abc" : undefined }]),
  );
/** The outputs a converged run left (what index.ts exports and the next run reads back). */
const converged = (): Record<string, unknown> => ({
  swarmLeader: "swarm-manager-1",
  swarmClusterId: "cluster-abc",
  swarmReformedAfter: "",
  swarmMembers: Object.fromEntries(config.nodes.map((n, i) => [n.name, { machineId: `m${i}`, epoch: "" } satisfies MemberRecord])),
  joinTokens: "whatever: secret outputs are never read",
});

describe("the default config's resource graph", () => {
  beforeEach(() => {
    probes = fresh();
  });

  test("one Node and one Ignition file per config entry, named by node name", async () => {
    await build();
    expect(ofType("homelab:node:Node").map((r) => r.name).sort()).toEqual(config.nodes.map((n) => n.name).sort());
    const files = named("-ignition");
    expect(files.map((f) => f.name).sort()).toEqual(config.nodes.map((n) => `${n.name}-ignition`).sort());
    for (const f of files) {
      const ignition = JSON.parse(f.inputs.stdin);
      expect(ignition.ignition.version).toBe("3.3.0");
      expect(ignition.passwd.users[0].sshAuthorizedKeys).toContain("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo");
      expect(f.inputs.create).toMatch(/out\/homelab\/ignition\/swarm-[a-z]+-\d\.ign/);
    }
  });

  test("type tokens say what they model; stacks from before keep their resources through aliases", async () => {
    await build();
    const aliases = (type: string) => ofType(type).flatMap((r) => r.aliases).join(" ");
    expect(aliases("homelab:index:Homelab")).toContain("homelab:cluster:Homelab");
    expect(aliases("homelab:node:Node")).toContain("homelab:swarm:Node");
    expect(aliases("homelab:swarm:Swarm")).toContain("homelab:swarm:Cluster");
    expect(urnOf("homelab-swarm-init")).toContain("homelab:swarm:Swarm$command:remote:Command");
  });

  test("exactly one init, on the first manager when no manager is in a swarm, after the Ignition files", async () => {
    await build();
    const init = one("-init");
    expect(init.inputs.connection.host).toBe("192.168.99.101");
    expect(init.inputs.create).toBe("bash -s -- 192.168.99.101");
    expect(init.inputs.stdin).toContain("docker swarm init");
    expect(init.inputs.triggers).toEqual(["swarm-manager-1:m0"]);
    for (const node of config.nodes) expect(init.dependencies).toContain(urnOf(`${node.name}-ignition`));
  });

  test("a join per node, to the leader, with the token of the node's role, token only on stdin", async () => {
    await build();
    for (const [i, node] of config.nodes.entries()) {
      const join = one(`homelab-swarm-${node.name}-join`);
      expect(join.inputs.connection.host).toBe(node.address);
      expect(join.inputs.create).toBe(`bash -s -- 192.168.99.101 ${node.address}`);
      expect(join.inputs.create).not.toContain("SWMTKN");
      expect(join.inputs.stdin).toContain(node.role === "manager" ? "SWMTKN-1-manager" : "SWMTKN-1-worker");
      // What the swarm has now: a node removed while it was off sees it is not among them.
      expect(join.inputs.stdin).toContain("HOMELAB_SWARM_NODE_IDS='abc,def'");
      expect(join.inputs.delete).toContain("docker swarm leave");
      // It leaves only the membership it made: this disk, this swarm.
      expect(join.inputs.delete).toMatch(new RegExp(`homelab-leave m${i} cluster-abc$`));
      // Replaced (leave first, then join) exactly when the disk or the swarm epoch is new.
      expect(join.inputs.triggers).toEqual([`m${i}`, ""]);
      expect(join.deleteBeforeReplace).toBe(true);
      expect(join.ignoreChanges.sort()).toEqual(["create", "delete", "stdin"]);
      // After its registration, the token read and its departure; deleted with its departure.
      const departure = urnOf(`-${node.name}-departure`);
      expect(join.dependencies).toEqual(expect.arrayContaining([urnOf(`-${node.name}-registration`), urnOf("homelab-swarm-join-tokens"), departure]));
      expect(join.deletedWith).toBe(departure);
    }
  });

  test("a departure per node leaves from this machine with the key on stdin, skipping a node that does not answer", async () => {
    await build();
    for (const [i, node] of config.nodes.entries()) {
      const departure = one(`-${node.name}-departure`);
      expect(departure.type).toBe("command:local:Command");
      expect(departure.inputs.create).toBeUndefined();
      expect(departure.inputs.delete).toContain("over-ssh");
      expect(departure.inputs.delete).toMatch(new RegExp(` ${node.address} 22 core 15 m${i} cluster-abc$`));
      expect(departure.inputs.delete).not.toContain("-----BEGIN");
      expect(departure.inputs.stdin.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----")).toBe(true);
      expect(departure.inputs.stdin).toContain("docker swarm leave");
      expect(departure.additionalSecretOutputs).toContain("stdin");
      expect(departure.dependencies).toContain(urnOf(`-${node.name}-registration`));
      expect(one(`-${node.name}-registration`).dependencies).toContain(urnOf("-init"));
    }
  });

  test("membership sets role, availability and sorted labels on the leader after the join; its delete drains", async () => {
    await build();
    const worker = one("swarm-worker-1-membership");
    expect(worker.inputs.connection.host).toBe("192.168.99.101");
    expect(worker.inputs.create).toBe(`bash -s -- swarm-worker-1 ${nodeIdOf("homelab-swarm-swarm-worker-1-join")} worker active mealie=true minio=true`);
    expect(worker.inputs.delete).toContain("--availability drain");
    expect(worker.dependencies).toContain(urnOf("swarm-worker-1-join"));
    expect(named("-registration").every((r) => String(r.inputs.delete).includes("docker node rm"))).toBe(true);
    // Labels in any config order give one command: a reordered map re-runs nothing.
    const unsorted = { ...config, nodes: config.nodes.map((n, i) => (i === 0 ? { ...n, labels: { zone: "a", disk: "ssd", arch: "arm64" } } : n)) };
    await build({}, unsorted);
    expect(one("swarm-manager-1-membership").inputs.create).toMatch(/ manager active arch=arm64 disk=ssd zone=a$/);
  });

  test("join tokens: read after init, secret in state and logs, rotated after every membership", async () => {
    const homelab = await build();
    expect(await (homelab.swarm.joinTokens as any).isSecret).toBe(true);
    expect(await value(homelab.swarm.joinTokens)).toEqual({ worker: "SWMTKN-1-rotatedworker", manager: "SWMTKN-1-rotatedmanager" });
    for (const suffix of ["homelab-swarm-join-tokens", "-rotate-join-tokens"]) {
      const r = one(suffix);
      expect(r.inputs.logging).toBe("none");
      expect(r.additionalSecretOutputs).toContain("stdout");
    }
    expect(one("homelab-swarm-join-tokens").dependencies).toContain(urnOf("-init"));
    // Re-read whenever a node joins: membership, leader, or any disk changes.
    expect(one("homelab-swarm-join-tokens").inputs.triggers).toEqual([config.nodes.map((n) => `${n.name}:${n.role}`).sort().join(","), "swarm-manager-1:m0", "m0", "m1", "m2", "m3"]);
    const rotate = one("-rotate-join-tokens");
    for (const node of config.nodes) expect(rotate.dependencies).toContain(urnOf(`-${node.name}-membership`));
    expect(rotate.inputs.triggers.slice(2)).toEqual(config.nodes.map((_, i) => `m${i}`));
  });

  test("no remote command gets its previous output (tokens) in its environment", async () => {
    await build();
    const commands = [...ofType("command:remote:Command"), ...ofType("command:local:Command").filter((c) => c.name.endsWith("-departure"))];
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) expect(c.inputs.addPreviousOutputInEnv).toBe(false);
  });

  test("the deploy key reaches the probe on stdin only, never a command line", async () => {
    probedStdin.length = 0;
    await build();
    expect(probedStdin.length).toBeGreaterThanOrEqual(config.nodes.length);
    expect(probedStdin.every((s) => s.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----"))).toBe(true);
    for (const r of resources) for (const field of ["create", "delete"]) expect(JSON.stringify(r.inputs[field] ?? "")).not.toContain("-----BEGIN");
  });

  test("what later components build on: leader connection after the rotation, manager addresses, nodes with labels", async () => {
    const homelab = await build();
    expect(homelab.swarm.managerAddresses).toEqual(config.nodes.filter((n) => n.role === "manager").map((n) => n.address));
    expect(homelab.swarm.nodes["swarm-manager-1"].labels).toEqual(config.nodes[0].labels);
    const connection = await value(homelab.swarm.leaderConnection);
    expect(connection.host).toBe("192.168.99.101");
    expect(await (homelab.swarm.leaderConnection as any).isSecret).toBe(true);
    // It carries the rotation as a dependency: whatever uses it waits for the swarm to be formed.
    const deps: Set<pulumi.Resource> = await (homelab.swarm.leaderConnection as any).allResources();
    expect([...deps].map((r) => (r as any).__name)).toContain("homelab-swarm-rotate-join-tokens");
  });
});

describe("leader choice from what the probes and the last run saw", () => {
  test("a rebuilt manager-1 joins the swarm that manager-2 manages; nothing inits on manager-1", async () => {
    probes = inSwarm();
    probes["swarm-manager-1"] = { reachable: true, machineId: "rebuilt", swarmState: "inactive", isManager: false };
    const homelab = await build(converged());
    expect(await value(homelab.swarm.leader)).toBe("swarm-manager-2");
    expect(one("-init").inputs.connection.host).toBe("192.168.99.102");
    const join = one("swarm-manager-1-join");
    expect(join.inputs.create).toBe("bash -s -- 192.168.99.102 192.168.99.101");
    expect(join.inputs.triggers).toEqual(["rebuilt", ""]);
  });

  test("a read of the last run that meets a half-written state file is retried", async () => {
    probes = inSwarm();
    failingReads = 2;
    const homelab = await build({ ...converged(), swarmLeader: "swarm-manager-3" });
    expect(failingReads).toBe(0);
    expect(await value(homelab.swarm.leader)).toBe("swarm-manager-3");
  });

  test("the last run's leader keeps leading while it manages the swarm", async () => {
    probes = inSwarm();
    const homelab = await build({ ...converged(), swarmLeader: "swarm-manager-2" });
    expect(await value(homelab.swarm.leader)).toBe("swarm-manager-2");
    expect(one("-init").inputs.connection.host).toBe("192.168.99.102");
  });
});

describe("a node that is off", () => {
  test("a worker off: its steps keep the last run's incarnation, the rest is planned as usual", async () => {
    probes = inSwarm();
    probes["swarm-worker-1"] = { reachable: false };
    const before = converged();
    await build(before);
    const join = one("swarm-worker-1-join");
    expect(join.inputs.triggers).toEqual(["m3", ""]);
    expect(one("swarm-worker-1-departure").inputs.delete).toMatch(/ m3 cluster-abc$/);
    expect(one("-rotate-join-tokens").inputs.triggers.slice(2)).toEqual(["m0", "m1", "m2", "m3"]);
    expect(one("homelab-swarm-join-tokens").inputs.triggers[1]).toBe("swarm-manager-1:m0");
  });

  test("the leader off: manager-2 leads, manager-1's join keeps its incarnation", async () => {
    probes = inSwarm();
    probes["swarm-manager-1"] = { reachable: false };
    const homelab = await build(converged());
    expect(await value(homelab.swarm.leader)).toBe("swarm-manager-2");
    expect(one("swarm-manager-1-join").inputs.triggers).toEqual(["m0", ""]);
    expect(one("swarm-manager-1-membership").inputs.connection.host).toBe("192.168.99.102");
    expect(await value(homelab.swarm.members)).toEqual((converged().swarmMembers as Record<string, MemberRecord>));
  });

  test("the swarm's ID comes from the probes when the swarm exists (known in a preview with a new leader), from init only for a new swarm", async () => {
    probes = inSwarm();
    for (const p of Object.values(probes)) if (p.reachable && p.clusterId) (p as { clusterId?: string }).clusterId = "cluster-probed";
    probes["swarm-manager-1"] = { reachable: false };
    expect(await value((await build(converged())).swarm.clusterId)).toBe("cluster-probed");
    probes = fresh();
    expect(await value((await build()).swarm.clusterId)).toBe("cluster-abc");
  });

  test("a node that never joined and does not answer is still planned as joining", async () => {
    probes = fresh();
    probes["swarm-worker-1"] = { reachable: false };
    await build();
    expect(one("swarm-worker-1-join").inputs.triggers).toEqual(["not-yet-seen", ""]);
    expect(named("-join")).toHaveLength(config.nodes.length);
  });
});

describe("the warning about nodes that did not answer", () => {
  test("one warning names the off node and says what happens to it", async () => {
    const { unreachableWarning } = await import("./swarm");
    const { planCluster } = await import("../swarm/plan");
    const probesNow = { ...inSwarm(), "swarm-worker-1": { reachable: false } };
    const last = converged() as any;
    const previous = { leader: last.swarmLeader, clusterId: last.swarmClusterId, members: last.swarmMembers };
    const warning = unreachableWarning(planCluster(config.nodes, probesNow, previous, false), 3, false);
    expect(warning).toBe(
      "swarm-worker-1 did not answer SSH within 3 min: its swarm steps stay as the last run left them (nothing is replaced or removed), and the next `pulumi up` after it answers converges it.",
    );
    expect(unreachableWarning(planCluster(config.nodes, inSwarm(), previous, false), 3, false)).toBe("");
  });
});
