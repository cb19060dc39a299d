import { BudgetNode } from "./budget";
import { parse, validDoc } from "./fixtures";
import { namedVolumes, placementProblems } from "./placement";

const node = (name: string, labels: Record<string, string> = {}, role = "worker"): BudgetNode => ({ name, role, labels, memoryMiB: 2048 });
const NODES = [node("m1", {}, "manager"), node("w1", { demo: "true" }), node("w2", { disk: "ssd" }), node("w3", { disk: "ssd" })];

/** The demo stack with its web service keeping data in a named volume, under `constraints`. */
function stateful(constraints?: string[], extra: Record<string, unknown> = {}) {
  const doc = validDoc();
  doc.volumes = { data: {} };
  Object.assign(doc.services.web, { volumes: ["data:/data", "/etc/hostname:/etc/host-name:ro"], ...extra });
  if (constraints) doc.services.web.deploy.placement = { constraints };
  return parse(doc);
}

test("named volumes are found in short and long syntax; bind mounts and tmpfs are not volumes", () => {
  const service = { volumes: ["data:/data:ro", "/srv:/srv", "./x:/x", { type: "volume", source: "cache", target: "/c" }, { type: "bind", source: "/run", target: "/run" }, { type: "tmpfs", target: "/tmp" }] };
  expect(namedVolumes(service, ["data", "cache"])).toEqual(["data", "cache"]);
});

test("a stateful service pinned by a label exactly one node carries is fine", () => {
  expect(placementProblems(stateful(["node.labels.demo == true"]), NODES)).toEqual([]);
  expect(placementProblems(stateful(["node.hostname == w2"]), NODES)).toEqual([]);
});

test("a stateful service with no pin is an error naming the service, the key and the label to set", () => {
  const [problem, ...rest] = placementProblems(stateful(), NODES);
  expect(rest).toEqual([]);
  expect(problem.key).toBe("services.web.deploy.placement.constraints");
  expect(problem.message).toMatch(/web keeps data in the volume data but is not pinned/);
  expect(problem.message).toContain(`add "node.labels.demo == true"`);
  expect(problem.message).toContain(`pulumi config set --path 'homelab:nodes[<i>].labels.demo' true`);
  // A role is not a pin: a second manager would let it move.
  expect(placementProblems(stateful(["node.role == manager"]), NODES)[0].message).toMatch(/not pinned/);
});

test("a label no node carries, or one several carry, is an error", () => {
  expect(placementProblems(stateful(["node.labels.vault == true"]), NODES)[0].message).toMatch(/no node in homelab:nodes matches.*labels\.vault' true/);
  expect(placementProblems(stateful(["node.labels.disk == ssd"]), NODES)[0].message).toMatch(/matches 2 nodes \(w2, w3\).*one node only/);
});

test("global services (a volume per node) and stateless services need no pin", () => {
  expect(placementProblems(stateful(undefined, { deploy: { mode: "global", resources: { limits: { memory: "64M" }, reservations: { memory: "32M" } } } }), NODES)).toEqual([]);
  expect(placementProblems(parse(validDoc()), NODES)).toEqual([]);
});
