/**
 * GitOps with the homelab program itself on the lab: the lab stack is brought up once from "the
 * owner's laptop" (lab/stack.ts), then the runner (gitops/main.ts, a process on this host) follows
 * a real git repository of that working copy and applies the owner's commits to the lab's real
 * Swarm over real SSH with the real Pulumi engine, or holds or refuses them.
 *
 * Not covered here: the runner as a Swarm service in the cluster (not built yet), a remote reached
 * over https with a token, a state backend other than the local file one.
 */
import { GitOpsHarness, setUpLabGitOps, swarmLabel, withLabel } from "../../lab/gitops";
import { labDown } from "../../lab/lab";
import { Pulumi } from "../../lab/stack";

const log = (line: string) => process.stderr.write(`[e2e-gitops-lab] ${line}\n`);
let h: GitOpsHarness;
let pulumi: Pulumi;

beforeAll(async () => {
  ({ harness: h, pulumi } = await setUpLabGitOps(log));
}, 20 * 60 * 1000);

afterAll(async () => {
  await h?.close();
  await labDown({ log: () => undefined });
}, 5 * 60 * 1000);

test("the runner takes over the stack the laptop brought up: its first run changes nothing, and the laptop then sees nothing to change either", async () => {
  await h.startRunner();
  const s = await h.handled(h.head());
  expect(s.lastCommit).toMatchObject({ result: "applied", summary: "no changes" });
  const preview = await pulumi(["preview", "--expect-no-changes"], { allowFail: true });
  expect(preview.code).toBe(0);
});

test("a commit labelling a node is applied to the swarm by a webhook", async () => {
  const labelled = h.commit("swarm-worker-1 is in the attic", (c) => withLabel(c, "swarm-worker-1", "zone", "attic"));
  const started = Date.now();
  expect((await h.push(labelled)).status).toBe(202);
  const s = await h.handled(labelled);
  log(`webhook to applied: ${((Date.now() - started) / 1000).toFixed(1)} s (${s.lastCommit?.summary})`);
  expect(s.lastCommit?.result).toBe("applied");
  expect(await swarmLabel("swarm-worker-1", "zone")).toBe("attic");
  expect(h.notes.map((n) => n.title)).toContain(`homelab: ${labelled.slice(0, 12)} applied`);
});

test("a commit removing a node is held for the owner, naming the node; the swarm keeps it", async () => {
  const removal = h.commit("retire swarm-worker-1", (c) => {
    c["homelab:nodes"] = (c["homelab:nodes"] as { name: string }[]).filter((n) => n.name !== "swarm-worker-1");
  });
  await h.push(removal);
  const s = await h.handled(removal);
  expect(s.lastCommit?.result).toBe("held");
  const reasons = s.lastCommit?.reasons.join("\n") ?? "";
  expect(reasons).toMatch(/node swarm-worker-1: delete of homelab-swarm-swarm-worker-1-membership/);
  expect(reasons).toMatch(/node swarm-worker-1: delete of swarm-worker-1/);
  expect(await swarmLabel("swarm-worker-1", "zone")).toBe("attic");
  expect(h.notes.find((n) => n.title.includes(removal.slice(0, 12)))?.body).toMatch(/Apply it by hand/);
});

test("a commit with a config error is refused with the field and its fix; the next good commit is applied", async () => {
  const broken = h.commit("a typo in an address", (c) => {
    const nodes = c["homelab:nodes"] as { name: string; address: string }[];
    nodes.push({ name: "swarm-worker-1", role: "worker", address: "10.213.99.311" } as never);
  });
  await h.push(broken);
  const s = await h.handled(broken);
  expect(s.lastCommit?.result).toBe("refused");
  expect(s.lastCommit?.reasons.join("\n")).toMatch(/homelab:nodes\[3\]\.address/);
  const fixed = h.commit("worker back, out of the attic", (c) => {
    const nodes = (c["homelab:nodes"] as { name: string; address: string }[]).filter((n) => n.name !== "swarm-worker-1");
    nodes.push({ name: "swarm-worker-1", role: "worker", address: "10.213.99.111", labels: { storage: "local" } } as never);
    c["homelab:nodes"] = nodes;
  });
  await h.push(fixed);
  expect((await h.handled(fixed)).lastCommit?.result).toBe("applied");
  expect(await swarmLabel("swarm-worker-1", "zone")).toBe("");
});
