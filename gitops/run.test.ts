/**
 * The run's decisions against scripted tools (no git, no Pulumi): which commit is previewed,
 * applied, held, refused or rolled back, and what is reported. The real tools are exercised by
 * tests/e2e/gitops.e2e.test.ts against a real repository, the real engine and the lab.
 */
import { PreviewStep } from "./gate";
import { GitOpsTools, Notification, PreviewOutcome, UpOutcome, runOnce } from "./run";
import { EMPTY_STATUS, RunnerStatus, renderMetrics } from "./status";
import { lastAppliedCommit, lockHolder, parseOutputs, withoutMootPendingCreates } from "./tools";

const URN = "urn:pulumi:homelab::homelab::homelab:index:Homelab$";
const step = (op: string, types: string, name: string): PreviewStep => ({ op, urn: `${URN}${types}::${name}` });
const NODE = step("same", "homelab:node:Node", "swarm-worker-1");

function scripted(opts: { head: string; applied?: string; preview?: PreviewOutcome; ups?: UpOutcome[] }) {
  const calls: string[] = [];
  const notes: Notification[] = [];
  const ups = [...(opts.ups ?? [{ exitCode: 0, tail: "" }])];
  const tools: GitOpsTools = {
    fetch: async () => (calls.push("fetch"), { commit: opts.head, subject: `subject of ${opts.head}` }),
    checkout: async (c) => void calls.push(`checkout ${c}`),
    lastApplied: async () => opts.applied,
    preview: async () => (calls.push("preview"), opts.preview ?? { exitCode: 0, json: { steps: [NODE, step("update", "homelab:platform:Platform$command:remote:Command", "homelab-platform-whoami-deploy")] }, stderr: "" }),
    up: async (c) => (calls.push(`up ${c}`), ups.shift() ?? { exitCode: 0, tail: "" }),
    previousOutputs: async () => ({ statefulStacks: ["vaultwarden"], nodes: ["swarm-worker-1"] }),
    notify: async (n) => void notes.push(n),
    log: () => undefined,
  };
  return { tools, calls, notes };
}
const clock = () => {
  let t = Date.parse("2026-12-01T10:00:00Z");
  return () => new Date((t += 1000));
};

test("a new commit is previewed, gated and applied; the status and metrics say so", async () => {
  const s = scripted({ head: "c2" });
  const status = await runOnce(s.tools, EMPTY_STATUS, ["webhook"], clock());
  expect(s.calls).toEqual(["fetch", "checkout c2", "preview", "up c2"]);
  expect(status.lastCommit).toMatchObject({ commit: "c2", result: "applied", summary: "1 to update" });
  expect(status.lastSuccess?.commit).toBe("c2");
  expect(status.runs.applied).toBe(1);
  expect(s.notes.map((n) => n.title)).toEqual(["homelab: c2 applied"]);
  const metrics = renderMetrics(status);
  expect(metrics).toContain('homelab_gitops_runs_total{result="applied"} 1');
  expect(metrics).toMatch(/homelab_gitops_last_success_timestamp_seconds 17\d{8}/);
});

test("an up that finds the stack locked by someone else changes nothing and leaves the commit for the next trigger, a poll too", async () => {
  const before: RunnerStatus = { ...EMPTY_STATUS, lastSuccess: { commit: "c1", at: "2026-12-01T09:00:00Z" } };
  const s = scripted({ head: "c8", ups: [{ exitCode: 255, tail: "the stack is locked by me@laptop", lockedBy: "me@laptop" }] });
  const status = await runOnce(s.tools, before, ["poll"], clock());
  expect(s.calls).toEqual(["fetch", "checkout c8", "preview", "up c8"]);
  expect(status.lastCommit).toBeUndefined();
  expect(status.runs).toEqual(EMPTY_STATUS.runs);
  expect(s.notes).toEqual([]);
  const again = scripted({ head: "c8" });
  expect((await runOnce(again.tools, status, ["poll"], clock())).lastCommit).toMatchObject({ commit: "c8", result: "applied" });
});

test("a refused commit is previewed again by a webhook or a manual run, not by a poll", async () => {
  const refused: RunnerStatus = { ...EMPTY_STATUS, lastCommit: { commit: "c9", subject: "s", result: "refused", summary: "", reasons: ["ssh: timeout"], at: "2026-12-01T09:00:00Z", seconds: 1 } };
  const poll = scripted({ head: "c9" });
  await runOnce(poll.tools, refused, ["poll"], clock());
  expect(poll.calls).toEqual(["fetch"]);
  const manual = scripted({ head: "c9" });
  expect((await runOnce(manual.tools, refused, ["manual"], clock())).lastCommit?.result).toBe("applied");
  const held = scripted({ head: "c9" });
  await runOnce(held.tools, { ...refused, lastCommit: { ...refused.lastCommit!, result: "held" } }, ["manual"], clock());
  expect(held.calls).toEqual(["fetch"]);
});

test("a commit already handled is not run again by a poll; a failed one is retried by a webhook", async () => {
  const once = await runOnce(scripted({ head: "c2" }).tools, EMPTY_STATUS, ["poll"], clock());
  const again = scripted({ head: "c2" });
  await runOnce(again.tools, once, ["poll"], clock());
  expect(again.calls).toEqual(["fetch"]);
  const failed: RunnerStatus = { ...once, lastCommit: { ...once.lastCommit!, result: "failed" } };
  const poll = scripted({ head: "c2" });
  await runOnce(poll.tools, failed, ["poll"], clock());
  expect(poll.calls).toEqual(["fetch"]);
  const hook = scripted({ head: "c2" });
  await runOnce(hook.tools, failed, ["webhook"], clock());
  expect(hook.calls).toContain("up c2");
});

test("a commit the owner already applied by hand is recorded as applied without a run", async () => {
  const s = scripted({ head: "c3", applied: "c3" });
  const status = await runOnce(s.tools, EMPTY_STATUS, ["poll"], clock());
  expect(s.calls).toEqual(["fetch", "checkout c3"]);
  expect(status.lastCommit).toMatchObject({ commit: "c3", result: "applied" });
  expect(status.runs.applied).toBe(0);
});

test("a failing preview is refused and reported with its error; nothing is applied", async () => {
  const s = scripted({ head: "c4", preview: { exitCode: 255, stderr: "error: homelab:nodes[1].address: not an IPv4 address", json: { steps: [], diagnostics: [{ severity: "error", message: "homelab:nodes[1].address: not an IPv4 address" }] } } });
  const status = await runOnce(s.tools, EMPTY_STATUS, ["poll"], clock());
  expect(s.calls).not.toContain("up c4");
  expect(status.lastCommit).toMatchObject({ result: "refused", reasons: ["homelab:nodes[1].address: not an IPv4 address"] });
  expect(s.notes[0]).toMatchObject({ title: "homelab: c4 refused: its preview failed", priority: 4 });
  expect(s.notes[0].body).toContain("not an IPv4 address");
});

test("a commit that would replace a node's join is held, named, and left for the owner", async () => {
  const s = scripted({ head: "c5", preview: { exitCode: 0, stderr: "", json: { steps: [NODE, step("replace", "homelab:swarm:Swarm$command:remote:Command", "homelab-swarm-swarm-worker-1-join")] } } });
  const status = await runOnce(s.tools, EMPTY_STATUS, ["poll"], clock());
  expect(s.calls).toEqual(["fetch", "checkout c5", "preview"]);
  expect(status.lastCommit?.result).toBe("held");
  expect(status.lastCommit?.reasons.join()).toMatch(/node swarm-worker-1: replace of homelab-swarm-swarm-worker-1-join/);
  expect(s.notes[0].body).toMatch(/Apply it by hand/);
});

test("a failed apply puts the last good commit back, and says both", async () => {
  const before: RunnerStatus = { ...EMPTY_STATUS, lastSuccess: { commit: "c1", at: "2026-12-01T09:00:00Z" } };
  const s = scripted({ head: "c6", ups: [{ exitCode: 1, tail: "error: stack whoami: the swarm refused it" }, { exitCode: 0, tail: "" }] });
  const status = await runOnce(s.tools, before, ["poll"], clock());
  expect(s.calls).toEqual(["fetch", "checkout c6", "preview", "up c6", "checkout c1", "up c1"]);
  expect(status.lastCommit).toMatchObject({ commit: "c6", result: "failed" });
  expect(status.lastSuccess?.commit).toBe("c1");
  expect(s.notes[0].body).toContain("the cluster was put back to c1");
  expect(s.notes[0].body).toContain("the swarm refused it");
});


describe("reading Pulumi's output", () => {
  test("the last applied commit is the newest succeeded update's git.head, unless its tree was dirty", () => {
    const history = (entries: object[]) => JSON.stringify(entries);
    expect(lastAppliedCommit(history([{ kind: "update", result: "failed", environment: { "git.head": "c9" } }, { kind: "refresh", result: "succeeded", environment: { "git.head": "c8" } }, { kind: "update", result: "succeeded", environment: { "git.head": "c7" } }]))).toBe("c7");
    expect(lastAppliedCommit(history([{ kind: "update", result: "succeeded", environment: { "git.head": "c7", "git.dirty": "true" } }]))).toBeUndefined();
    expect(lastAppliedCommit("")).toBeUndefined();
  });
  test("the gate's inputs come from the last run's outputs; none before a first run", () => {
    expect(parseOutputs(JSON.stringify({ statefulStacks: ["vaultwarden", 3], swarmMembers: { m1: {}, w1: {} }, nodes: { m1: {}, w2: {} }, caCertificate: "[secret]" }))).toEqual({ statefulStacks: ["vaultwarden"], nodes: ["m1", "w1", "w2"] });
    expect(parseOutputs("")).toEqual({ statefulStacks: [], nodes: [] });
  });
  test("only the pending creates an up has since created are dropped", () => {
    const deployment = {
      resources: [{ urn: "u:a" }, { urn: "u:b" }],
      pending_operations: [
        { type: "creating", resource: { urn: "u:a" } },
        { type: "creating", resource: { urn: "u:gone" } },
        { type: "updating", resource: { urn: "u:b" } },
      ],
    };
    expect(withoutMootPendingCreates(deployment)).toEqual({ changed: true, dropped: ["u:a"] });
    expect(deployment.pending_operations.map((op) => op.resource.urn)).toEqual(["u:gone", "u:b"]);
    expect(withoutMootPendingCreates(deployment).changed).toBe(false);
  });
  test("a lock names who holds it", () => {
    const message = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///x/.pulumi/locks/organization/p/s/uuid.json: created by root@gitops-runner (pid 42) at 2026-12-01T10:00:00Z";
    expect(lockHolder(message)).toBe("root@gitops-runner");
    expect(lockHolder("error: preview failed")).toBeUndefined();
  });
});

test("the head waits unapplied from its first hold, refusal or failure until a commit is applied: the metric the GitOpsBehind alert reads", async () => {
  const tick = clock();
  const replaceJoin: PreviewOutcome = { exitCode: 0, stderr: "", json: { steps: [NODE, step("replace", "homelab:swarm:Swarm$command:remote:Command", "homelab-swarm-swarm-worker-1-join")] } };
  const held = await runOnce(scripted({ head: "c3", preview: replaceJoin }).tools, EMPTY_STATUS, ["poll"], tick);
  expect(held.lastCommit?.result).toBe("held");
  expect(held.behindSince).toBe(held.lastCommit?.at);
  expect(renderMetrics(held)).toContain(`homelab_gitops_behind_since_timestamp_seconds ${Date.parse(held.behindSince!) / 1000}`);
  const failing: PreviewOutcome = { exitCode: 255, stderr: "error: bad", json: { steps: [], diagnostics: [{ severity: "error", message: "bad" }] } };
  const refusedLater = await runOnce(scripted({ head: "c4", preview: failing }).tools, held, ["poll"], tick);
  expect(refusedLater.lastCommit?.result).toBe("refused");
  expect(refusedLater.behindSince).toBe(held.behindSince);
  const applied = await runOnce(scripted({ head: "c5" }).tools, refusedLater, ["poll"], tick);
  expect(applied.behindSince).toBeUndefined();
  expect(renderMetrics(applied)).toContain("homelab_gitops_behind_since_timestamp_seconds 0");
});
