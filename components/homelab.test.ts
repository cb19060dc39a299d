/**
 * The resource graph of the program under Pulumi mocks (no engine, no SSH). What this does not
 * cover: whether the commands work on a node (tests/lab, the e2e suite) and provider input
 * validation (the e2e suite against the real engine).
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { loadStackConfigFile } from "../config/load";
import { NodeProbe } from "../swarm/plan";

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

let resources: Recorded[] = [];
let probes: Record<string, NodeProbe> = {};
const probedStdin: string[] = [];

function probeStdout(address: string): string {
  const config = loadStackConfigFile(path.join(__dirname, "..", "Pulumi.homelab.yaml")).config;
  const node = config.nodes.find((n) => n.address === address)!;
  const p = probes[node.name] ?? { reachable: false };
  if (!p.reachable) return "reachable=false\n";
  return [
    "reachable=true",
    `machine_id=${p.machineId}`,
    `swarm_state=${p.swarmState}`,
    `is_manager=${p.isManager}`,
    `cluster_id=${p.clusterId ?? ""}`,
  ].join("\n");
}

/** A 25-character swarm node ID per join resource, as join.sh prints it. */
function nodeIdOf(resourceName: string): string {
  return resourceName.replace(/[^a-z0-9]/g, "").padEnd(25, "0").slice(-25);
}

pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      resources.push({ type: args.type, name: args.name, inputs: recordInputs(args.inputs) });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") {
        state.publicKeyOpenssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo\n";
        state.privateKeyOpenssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n-----END OPENSSH PRIVATE KEY-----\n";
      }
      if (args.type === "command:remote:Command") {
        const create = String(args.inputs.create ?? "");
        if (args.name.endsWith("-init")) state.stdout = "cluster_id=cluster-abc\ncreated=true\n";
        else if (create.includes("--rotate")) state.stdout = "worker=SWMTKN-1-rotatedworker\nmanager=SWMTKN-1-rotatedmanager\n";
        else if (args.name.endsWith("-join-tokens")) state.stdout = "worker=SWMTKN-1-worker\nmanager=SWMTKN-1-manager\n";
        else if (args.name.endsWith("-join")) state.stdout = `joined=true\nnode_id=${nodeIdOf(args.name)}\n`;
        else state.stdout = "";
      }
      return { id: `${args.name}-id`, state };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      if (args.token === "command:local:run") {
        probedStdin.push(String(args.inputs.stdin));
        const address = String(args.inputs.command).split(" ")[2];
        return { ...args.inputs, stdout: probeStdout(address), stderr: "" };
      }
      throw new Error(`unexpected invoke ${args.token}`);
    },
  },
  "homelab",
  "homelab",
  false,
);

// Imported after the mocks are set, as Pulumi's unit-testing guide requires.
import { Homelab } from "./homelab";

const config = loadStackConfigFile(path.join(__dirname, "..", "Pulumi.homelab.yaml")).config;

function value<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

async function build(previousLeader?: string): Promise<Homelab> {
  resources = [];
  const homelab = new Homelab("homelab", { config, ignitionDir: "out/homelab/ignition", previous: { leader: previousLeader } });
  await value(homelab.joinTokens);
  await new Promise((r) => setTimeout(r, 50));
  return homelab;
}

/** Inputs that hold a secret reach the mocks wrapped as {<secret signature>: ..., value}. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function reveal(v: any): any {
  if (v && typeof v === "object" && SECRET_SIG in v) return v.value;
  return v;
}
function recordInputs(inputs: Record<string, any>): Record<string, any> {
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, reveal(v)]));
}

const ofType = (type: string) => resources.filter((r) => r.type === type);
const remote = (suffix: string) => ofType("command:remote:Command").filter((r) => r.name.endsWith(suffix));

const fresh = (): Record<string, NodeProbe> =>
  Object.fromEntries(config.nodes.map((n, i) => [n.name, { reachable: true, machineId: `m${i}`, swarmState: "inactive", isManager: false }]));

describe("the default config's resource graph", () => {
  beforeEach(() => {
    probes = fresh();
  });

  test("one Node and one Ignition file per config entry, named by node name", async () => {
    await build();
    expect(ofType("homelab:swarm:Node").map((r) => r.name).sort()).toEqual(config.nodes.map((n) => n.name).sort());
    const files = ofType("command:local:Command");
    expect(files.map((f) => f.name).sort()).toEqual(config.nodes.map((n) => `${n.name}-ignition`).sort());
    for (const f of files) {
      const ignition = JSON.parse(f.inputs.stdin);
      expect(ignition.ignition.version).toBe("3.3.0");
      expect(ignition.passwd.users[0].sshAuthorizedKeys).toContain("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo");
      expect(f.inputs.create).toMatch(/out\/homelab\/ignition\/swarm-[a-z]+-\d\.ign/);
    }
  });

  test("exactly one init, on the first manager when no manager is in a swarm", async () => {
    await build();
    const inits = remote("-init");
    expect(inits).toHaveLength(1);
    expect(inits[0].inputs.connection.host).toBe("192.168.99.101");
    expect(inits[0].inputs.create).toBe("bash -s -- 192.168.99.101");
    expect(inits[0].inputs.stdin).toContain("docker swarm init");
  });

  test("a join per node, to the leader, with the token of the node's role, token only on stdin", async () => {
    await build();
    const joins = remote("-join");
    expect(joins).toHaveLength(config.nodes.length);
    for (const node of config.nodes) {
      const join = joins.find((j) => j.name === `homelab-swarm-${node.name}-join`)!;
      expect(join.inputs.connection.host).toBe(node.address);
      expect(join.inputs.create).toBe(`bash -s -- 192.168.99.101 ${node.address}`);
      expect(join.inputs.create).not.toContain("SWMTKN");
      expect(join.inputs.stdin).toContain(node.role === "manager" ? "SWMTKN-1-manager" : "SWMTKN-1-worker");
      expect(join.inputs.delete).toContain("docker swarm leave");
      // It leaves only the membership it made: this disk, this swarm.
      expect(join.inputs.delete).toMatch(new RegExp(`homelab-leave ${probes[node.name].machineId} cluster-abc$`));
    }
  });

  test("membership sets role, availability and labels on the leader; its delete drains", async () => {
    await build();
    const worker = remote("swarm-worker-1-membership")[0];
    expect(worker.inputs.connection.host).toBe("192.168.99.101");
    expect(worker.inputs.create).toBe(`bash -s -- swarm-worker-1 ${nodeIdOf("homelab-swarm-swarm-worker-1-join")} worker active`);
    expect(worker.inputs.delete).toContain("--availability drain");
    expect(remote("-registration").every((r) => String(r.inputs.delete).includes("docker node rm"))).toBe(true);
  });

  test("join tokens are secret outputs, rotated after the joins", async () => {
    const homelab = await build();
    const tokens = homelab.joinTokens;
    expect(await (tokens as any).isSecret).toBe(true);
    expect(await value(tokens)).toEqual({ worker: "SWMTKN-1-rotatedworker", manager: "SWMTKN-1-rotatedmanager" });
    expect(remote("-rotate-join-tokens")).toHaveLength(1);
  });

  test("no remote command gets its previous output (tokens) in its environment", async () => {
    await build();
    const commands = ofType("command:remote:Command");
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) expect(c.inputs.addPreviousOutputInEnv).toBe(false);
  });

  test("the deploy key reaches the probe on stdin only, never the command line", async () => {
    probedStdin.length = 0;
    await build();
    expect(probedStdin.length).toBeGreaterThanOrEqual(config.nodes.length);
    expect(probedStdin.every((s) => s.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----"))).toBe(true);
    for (const r of resources) expect(JSON.stringify(r.inputs.create ?? "")).not.toContain("PRIVATE KEY");
  });
});

describe("leader choice from what the probes saw", () => {
  test("a rebuilt manager-1 joins the swarm that manager-2 manages; nothing inits on manager-1", async () => {
    probes = fresh();
    for (const name of ["swarm-manager-2", "swarm-manager-3", "swarm-worker-1"]) {
      probes[name] = { ...probes[name], swarmState: "active", isManager: name !== "swarm-worker-1", clusterId: name === "swarm-worker-1" ? undefined : "cluster-abc" };
    }
    const homelab = await build();
    expect(await value(homelab.leader)).toBe("swarm-manager-2");
    const inits = remote("-init");
    expect(inits).toHaveLength(1);
    expect(inits[0].inputs.connection.host).toBe("192.168.99.102");
    const join = remote("swarm-manager-1-join")[0];
    expect(join.inputs.create).toBe("bash -s -- 192.168.99.102 192.168.99.101");
  });

  test("the last run's leader keeps leading while it manages the swarm", async () => {
    probes = fresh();
    for (const name of ["swarm-manager-1", "swarm-manager-2", "swarm-manager-3"]) {
      probes[name] = { ...probes[name], swarmState: "active", isManager: true, clusterId: "cluster-abc" };
    }
    const homelab = await build("swarm-manager-2");
    expect(await value(homelab.leader)).toBe("swarm-manager-2");
    expect(remote("-init")[0].inputs.connection.host).toBe("192.168.99.102");
  });
});
