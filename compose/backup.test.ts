import * as path from "path";
import { DEFAULT_BACKUP, PlatformConfig } from "../config/schema";
import { stackConfig } from "../tests/fixtures";
import { backupPlan } from "./backup";
import { BudgetNode } from "./budget";
import { parse, validDoc } from "./fixtures";
import { loadStack, parseStack } from "./load";
import { StackSource } from "./types";

const node = (name: string, labels: Record<string, string> = {}, role = "worker"): BudgetNode => ({ name, role, labels, memoryMiB: 2048 });
const NODES = [node("m1", {}, "manager"), node("w1", { demo: "true" }), node("w2", { other: "true" })];
type Platform = Pick<PlatformConfig, "stacks" | "jit" | "backup">;
const platform = (edit: Partial<Platform> = {}): Platform => ({ stacks: ["demo", "other"], jit: [], backup: DEFAULT_BACKUP, ...edit });

/** A stack named `name` whose web service keeps `data` in a volume, pinned by the label `name`, plus what `edit` adds. */
function stateful(name: string, edit: (doc: Record<string, any>) => void = () => undefined): StackSource {
  const doc = validDoc();
  doc.volumes = { data: {} };
  Object.assign(doc.services.web, { volumes: ["data:/data", "/etc/hostname:/etc/host-name:ro"] });
  doc.services.web.deploy.placement = { constraints: [`node.labels.${name} == true`] };
  edit(doc);
  return name === "demo" ? parse(doc) : { ...parse(doc), name, file: `stacks/${name}/compose.yml` };
}

describe("the committed homelab config with the default stacks", () => {
  const { config } = stackConfig("homelab");
  const stacks = config.platform.stacks.map((name) => loadStack(path.resolve(__dirname, "..", "stacks", name)));
  const plan = backupPlan(stacks, config.nodes, config.platform);

  test("one entry per stateful volume, on the node its label pins, the seed's four JIT apps asleep", () => {
    expect(plan.problems).toEqual([]);
    expect(plan.volumes.map((v) => [v.swarmVolume, v.node, v.services.join(" "), v.jit, v.quiesce])).toEqual([
      ["monitoring_prometheus-data", "swarm-manager-1", "monitoring_prometheus", false, "stop"],
      ["monitoring_alertmanager-data", "swarm-manager-1", "monitoring_alertmanager", false, "stop"],
      ["monitoring_grafana-data", "swarm-manager-1", "monitoring_grafana", false, "stop"],
      ["vaultwarden_data", "swarm-manager-2", "vaultwarden_vaultwarden", true, "asleep"],
      ["forgejo_data", "swarm-manager-3", "forgejo_forgejo", true, "asleep"],
      ["mealie_data", "swarm-worker-1", "mealie_mealie", true, "asleep"],
      ["minio_data", "swarm-worker-1", "minio_minio", true, "asleep"],
      ["homeassistant_config", "swarm-manager-2", "homeassistant_homeassistant", false, "stop"],
    ]);
    expect(plan.volumes[0]).toEqual({ stack: "monitoring", volume: "prometheus-data", swarmVolume: "monitoring_prometheus-data", node: "swarm-manager-1", services: ["monitoring_prometheus"], jit: false, quiesce: "stop" });
  });

});

test("two stacks with a volume of the same compose name get their own Swarm names and nodes", () => {
  const plan = backupPlan([stateful("demo"), stateful("other")], NODES, platform());
  expect(plan.problems).toEqual([]);
  expect(plan.volumes.map((v) => [v.stack, v.volume, v.swarmVolume, v.node])).toEqual([
    ["demo", "data", "demo_data", "w1"],
    ["other", "data", "other_data", "w2"],
  ]);
});

test("only the stacks of platform.stacks count, in their order", () => {
  expect(backupPlan([stateful("demo"), stateful("other")], NODES, platform({ stacks: ["other"] })).volumes.map((v) => v.swarmVolume)).toEqual(["other_data"]);
  expect(backupPlan([stateful("demo"), stateful("other")], NODES, platform({ stacks: ["other", "demo"] })).volumes.map((v) => v.swarmVolume)).toEqual(["other_data", "demo_data"]);
});

test("a volume's services are listed sorted; any JIT one marks it, all JIT ones let it be backed up asleep", () => {
  const shared = stateful("demo", (d) => (d.services.api = { ...d.services.web, image: "traefik/whoami:v1.10.3" }));
  const plan = (jit: string[]) => backupPlan([shared], NODES, platform({ jit: jit.map((service) => ({ service, idle: "30m" })) })).volumes[0];
  expect(plan([])).toMatchObject({ services: ["demo_api", "demo_web"], jit: false, quiesce: "stop" });
  expect(plan(["demo/web"])).toMatchObject({ jit: true, quiesce: "stop" });
  expect(plan(["demo/web", "demo/api"])).toMatchObject({ jit: true, quiesce: "asleep" });
});

test("a volume only global services mount is skipped, one a replicated service mounts too is planned with that one", () => {
  const agent = { image: "x/agent:1", volumes: ["cache:/cache"], deploy: { mode: "global", resources: { limits: { memory: "64M" }, reservations: { memory: "32M" } } } };
  const stack = stateful("demo", (d) => {
    d.volumes.cache = {};
    d.services.agent = agent;
    d.services.agent2 = { ...agent, volumes: ["data:/data"] };
  });
  expect(backupPlan([stack], NODES, platform()).volumes.map((v) => [v.swarmVolume, v.services])).toEqual([["demo_data", ["demo_web"]]]);
});

test("a volume's `name:` or external volume keeps the name Swarm gives it", () => {
  const named = stateful("demo", (d) => (d.volumes.data = { name: "vault-data" }));
  expect(backupPlan([named], NODES, platform()).volumes[0].swarmVolume).toBe("vault-data");
  const external = stateful("demo", (d) => (d.volumes.data = { external: true }));
  expect(backupPlan([external], NODES, platform()).volumes[0].swarmVolume).toBe("data");
});

test("excluded volumes drop out; an exclude entry naming no volume is a problem with the fix", () => {
  const stacks = [stateful("demo"), stateful("other")];
  const plan = backupPlan(stacks, NODES, platform({ backup: { ...DEFAULT_BACKUP, exclude: ["other_data", "demo_dta", "gone_data"] } }));
  expect(plan.volumes.map((v) => v.swarmVolume)).toEqual(["demo_data"]);
  expect(plan.problems).toEqual([
    { key: "homelab:platform.backup.exclude[1]", message: '"demo_dta" names no volume of the deployed stacks (homelab:platform.stacks). Fix: name one of demo_data, other_data, or remove the entry.' },
    { key: "homelab:platform.backup.exclude[2]", message: expect.stringContaining('"gone_data" names no volume') },
  ]);
  // A stack that is not deployed has no volume to exclude.
  expect(backupPlan(stacks, NODES, platform({ stacks: ["demo"], backup: { ...DEFAULT_BACKUP, exclude: ["other_data"] } })).problems[0].key).toBe("homelab:platform.backup.exclude[0]");
});

test("an unpinned service's volume is a problem naming the file, key and fix, not an entry", () => {
  const plan = backupPlan([stateful("demo", (d) => delete d.services.web.deploy.placement)], NODES, platform());
  expect(plan.volumes).toEqual([]);
  expect(plan.problems).toEqual([{ key: "stacks/demo/compose.yml: services.web.deploy.placement.constraints", message: expect.stringMatching(/web keeps data in the volume data but is not pinned.*Fix: .*Until then its data is not backed up\.$/) }]);
});

test("services pinned to different nodes sharing a volume: a problem, since each node has its own copy", () => {
  const split = stateful("demo", (d) => (d.services.api = { ...d.services.web, deploy: { ...d.services.web.deploy, placement: { constraints: ["node.labels.other == true"] } } }));
  const plan = backupPlan([split], NODES, platform());
  expect(plan.volumes).toEqual([]);
  expect(plan.problems).toEqual([{ key: "stacks/demo/compose.yml: volumes.data", message: expect.stringContaining("demo_data is mounted by services pinned to different nodes (demo_web on w1, demo_api on w2)") }]);
});

test("backup: false gives an empty plan, even with problems it would have", () => {
  const stacks = [stateful("demo", (d) => delete d.services.web.deploy.placement)];
  expect(backupPlan(stacks, NODES, platform({ backup: false }))).toEqual({ volumes: [], problems: [] });
  expect(backupPlan(stacks, NODES, platform()).problems).toHaveLength(1);
});

test("a stack read from text keeps its volumes' compose keys", () => {
  const stack = parseStack("other", "stacks/other/compose.yaml", "services:\n  db:\n    image: postgres:16.4\n    volumes: [pg:/var/lib/postgresql/data]\n    deploy:\n      placement: { constraints: [node.hostname == m1] }\n      resources: { limits: { memory: 256M }, reservations: { memory: 128M } }\nvolumes:\n  pg: {}\n", () => "");
  expect(backupPlan([stack], NODES, platform()).volumes).toEqual([{ stack: "other", volume: "pg", swarmVolume: "other_pg", node: "m1", services: ["other_db"], jit: false, quiesce: "stop" }]);
});
