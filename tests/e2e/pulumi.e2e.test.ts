/**
 * The users' workflow with the real Pulumi CLI and providers against the lab: preview, up, a no-op
 * up, secrets, destroy, and a rebuild from scratch. Steps depend on each other and run in order.
 * Not covered: real Pis and Flatcar's boot, a remote Pulumi backend, image pulls.
 */
import * as fs from "fs";
import { Inventory, labDown, rebuildNode, sshExec } from "../../lab/lab";
import { Pulumi, editStackConfig, labPulumi, refreshWorkingCopy, stackPaths, upWithLab } from "../../lab/stack";
import { labTargets, swarmNodes as swarmRows } from "../../lab/swarm";

const log = (line: string) => process.stderr.write(`[e2e] ${line}\n`);
let pulumi: Pulumi;
let inventory: Inventory;

async function onNode(name: string, command: string): Promise<string> {
  const result = await sshExec(name, command);
  if (result.code !== 0) throw new Error(`${command} on ${name}: ${result.stderr}`);
  return result.stdout.trim();
}

/** The swarm as a manager sees it: hostname → "Ready manager|worker". */
async function swarmNodes(manager: string): Promise<Record<string, string>> {
  const rows = await swarmRows(labTargets(inventory).find((t) => t.name === manager)!);
  return Object.fromEntries(rows.map((r) => [r.hostname, `${r.status} ${r.managerStatus ? "manager" : "worker"}`]));
}

const expected = {
  "swarm-manager-1": "Ready manager",
  "swarm-manager-2": "Ready manager",
  "swarm-manager-3": "Ready manager",
  "swarm-worker-1": "Ready worker",
};

beforeAll(async () => {
  await labDown({ log: () => undefined });
  fs.rmSync(stackPaths().root, { recursive: true, force: true });
  pulumi = await labPulumi(log);
});

afterAll(async () => {
  if (pulumi) await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  await labDown({ log: () => undefined });
});

test("preview on a new stack shows the plan and changes nothing", async () => {
  const preview = await pulumi(["preview", "--diff"]);
  expect(preview.stdout).toMatch(/\+ .*homelab:cluster:Homelab/);
  expect(preview.stdout).toMatch(/homelab-swarm-init/);
  expect(fs.existsSync(stackPaths().ignitionDir)).toBe(false);
  const state = await pulumi(["stack", "export"]);
  expect(JSON.parse(state.stdout).deployment.resources ?? []).toHaveLength(0);
});

test("up writes the Ignition files, waits for the nodes and forms the swarm", async () => {
  ({ inventory } = await upWithLab(pulumi, log));
  expect(await swarmNodes("swarm-manager-1")).toEqual(expected);
  const outputs = JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);
  expect(outputs.swarmLeader).toBe("swarm-manager-1");
  expect(Object.keys(outputs.ignitionFiles).sort()).toEqual(Object.keys(expected));
  expect(outputs.joinTokens).toBe("[secret]");
});

test("a second up changes nothing", async () => {
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  if (again.code !== 0) throw new Error(`the second up was not a no-op:\n${again.stdout}\n${again.stderr}`);
});

test("removing a node from the config drains it, makes it leave and removes it; adding it back rejoins it", async () => {
  editStackConfig((config) => {
    config["homelab:nodes"] = (config["homelab:nodes"] as { name: string }[]).filter((n) => n.name !== "swarm-worker-1");
  });
  try {
    const preview = JSON.parse((await pulumi(["preview", "--json"])).stdout) as { steps: { op: string; urn: string }[] };
    const deletes = preview.steps.filter((s) => s.op === "delete").map((s) => s.urn.split("::").pop());
    expect(deletes.sort()).toEqual([
      "homelab-swarm-swarm-worker-1-join",
      "homelab-swarm-swarm-worker-1-membership",
      "homelab-swarm-swarm-worker-1-registration",
      "swarm-worker-1",
      "swarm-worker-1-ignition",
    ]);
    const removed = await pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
    if (removed.code !== 0) throw new Error(`up without the worker failed:\n${removed.stdout}\n${removed.stderr}`);
    const { "swarm-worker-1": gone, ...rest } = expected;
    expect(gone).toBeDefined();
    expect(await swarmNodes("swarm-manager-1")).toEqual(rest);
    expect(await onNode("swarm-worker-1", "docker info --format '{{.Swarm.LocalNodeState}}'")).toBe("inactive");
  } finally {
    refreshWorkingCopy();
  }
  const back = await pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
  if (back.code !== 0) throw new Error(`up with the worker back failed:\n${back.stdout}\n${back.stderr}`);
  expect(await swarmNodes("swarm-manager-1")).toEqual(expected);
});

test("a rebuilt manager-1 rejoins the existing swarm on the next up (no second swarm), and then nothing changes", async () => {
  const before = JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);
  await rebuildNode("swarm-manager-1");
  const preview = JSON.parse((await pulumi(["preview", "--json"])).stdout) as { steps: { op: string; urn: string }[] };
  const replaced = preview.steps.filter((s) => s.op === "replace").map((s) => s.urn.split("::").pop());
  expect(replaced).toContain("homelab-swarm-swarm-manager-1-join");
  const up = await pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
  if (up.code !== 0) throw new Error(`up after the rebuild failed:\n${up.stdout}\n${up.stderr}`);
  const after = JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);
  expect(after.swarmLeader).not.toBe("swarm-manager-1");
  expect(after.swarmClusterId).toBe(before.swarmClusterId);
  expect(await swarmNodes("swarm-manager-1")).toEqual(expected);
  expect(await onNode("swarm-manager-1", "docker info --format '{{.Swarm.Cluster.ID}}'")).toBe(before.swarmClusterId);
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  if (again.code !== 0) throw new Error(`the up after the rejoin was not a no-op:\n${again.stdout}\n${again.stderr}`);
});

test("every node reflashed at once with the same Ignition (state kept): up forms the swarm again", async () => {
  await labDown({ log: () => undefined });
  ({ inventory } = await upWithLab(pulumi, log));
  expect(await swarmNodes("swarm-manager-2")).toEqual(expected);
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  if (again.code !== 0) throw new Error(`the up after re-forming was not a no-op:\n${again.stdout}\n${again.stderr}`);
});

test("every node left the swarm by hand (same disks): up forms it again, once", async () => {
  for (const node of inventory.nodes) await onNode(node.name, "docker swarm leave --force");
  const up = await pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
  if (up.code !== 0) throw new Error(`up after the swarm was lost failed:\n${up.stdout}\n${up.stderr}`);
  expect(await swarmNodes("swarm-manager-3")).toEqual(expected);
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  if (again.code !== 0) throw new Error(`the up after re-forming was not a no-op:\n${again.stdout}\n${again.stderr}`);
});

test("join tokens are secret outputs and are the swarm's current (rotated) tokens", async () => {
  const shown = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  expect(shown.joinTokens.worker).toMatch(/^SWMTKN-1-/);
  expect(shown.joinTokens.worker).toBe(await onNode("swarm-manager-2", "docker swarm join-token -q worker"));
  expect(shown.joinTokens.manager).toBe(await onNode("swarm-manager-2", "docker swarm join-token -q manager"));
});

test("no secret appears in plain text in the state file", async () => {
  const revealed = (await pulumi(["stack", "export", "--show-secrets"])).stdout;
  const shown = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  const privateKey = /-----BEGIN OPENSSH PRIVATE KEY-----[^"]*?-----END OPENSSH PRIVATE KEY-----/.exec(revealed.replace(/\\n/g, "\n"));
  expect(privateKey).not.toBeNull();
  const secrets = [shown.joinTokens.worker, shown.joinTokens.manager, privateKey![0].split("\n")[2], fs.readFileSync(stackPaths().passphraseFile, "utf8")];
  const stateFiles = fs.readdirSync(`${stackPaths().backend}/.pulumi/stacks/homelab`).filter((f) => f.endsWith(".json"));
  expect(stateFiles.length).toBeGreaterThan(0);
  for (const file of stateFiles) {
    const text = fs.readFileSync(`${stackPaths().backend}/.pulumi/stacks/homelab/${file}`, "utf8");
    for (const secret of secrets) expect(text.includes(secret)).toBe(false);
    expect(text).not.toContain("SWMTKN-1-");
  }
});

test("destroy succeeds and leaves every node out of the swarm", async () => {
  const destroyed = await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  if (destroyed.code !== 0) throw new Error(`pulumi destroy failed:\n${destroyed.stdout}\n${destroyed.stderr}`);
  for (const node of inventory.nodes) {
    expect(await onNode(node.name, "docker info --format '{{.Swarm.LocalNodeState}}'")).toBe("inactive");
  }
  expect(fs.existsSync(stackPaths().ignitionDir) && fs.readdirSync(stackPaths().ignitionDir).length > 0).toBe(false);
});

test("up again, on nodes flashed with the new Ignition, rebuilds the same cluster", async () => {
  await labDown({ log: () => undefined });
  ({ inventory } = await upWithLab(pulumi, log));
  expect(await swarmNodes("swarm-manager-3")).toEqual(expected);
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  expect(again.code).toBe(0);
});
