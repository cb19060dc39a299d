/**
 * The GitOps runner in the cluster, deployed by the program (stacks/gitops): the owner brings the
 * lab up from "the laptop" (lab/stack.ts), moves the state to an S3 bucket on "the NAS" (npm run
 * move-state; the S3 STAND-IN, lab/s3-standin, on the lab bridge's host address), turns GitOps on
 * in the stack config (the repository, the passphrase and the bucket's keys as config secrets, the
 * `gitops` label on swarm-manager-1) and runs `pulumi up`. From then on the runner, a Swarm service
 * on swarm-manager-1, follows a real git repository (served over git's dumb HTTP protocol from
 * this host, on the bridge) and applies the owner's commits to the lab's real Swarm, over SSH from
 * its container, with the real Pulumi engine, its state in the bucket. Webhooks, the status and
 * the metrics go through the lab's Traefik (HTTPS with the homelab CA); ntfy is a recorder on the
 * bridge.
 *
 * The runner's image is the lab's build (lab/images/gitops-runner: Debian, this host's Node.js, the
 * toolchain's Pulumi), loaded into swarm-manager-1 under the tag the platform computes, so the
 * platform's build step finds it there (no registry or Debian mirror is reachable from the lab).
 * Not covered here: the image build from the official pulumi/pulumi-nodejs on a Pi; a repository
 * over https with a token; a real S3 server's authentication; Forgejo's real webhook.
 */
import { GitOpsHarness, RUNNER_NODE, setUpClusterGitOps, swarmLabel, withLabel } from "../../lab/gitops";
import { labDown, readInventory, sshExec } from "../../lab/lab";
import { S3Standin } from "../../lab/s3";

const log = (line: string) => process.stderr.write(`[e2e-gitops-cluster] ${line}\n`);
let h: GitOpsHarness;
let s3: S3Standin | undefined;
let owner: (args: string[], input?: string, cwd?: string) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The owner's `pulumi preview --expect-no-changes`, its output shown when it fails. */
async function expectNoChanges(cwd?: string): Promise<void> {
  const preview = await owner(["preview", "--expect-no-changes", "--diff"], undefined, cwd);
  if (preview.code !== 0) throw new Error(`the owner's preview found changes (exit ${preview.code}):\n${preview.stdout.slice(-3000)}\n${preview.stderr.slice(-1000)}`);
}

async function onRunnerNode(command: string): Promise<string> {
  const node = readInventory().nodes.find((n) => n.name === RUNNER_NODE)!;
  const r = await sshExec(node, command, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${command} on ${RUNNER_NODE}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  ({ harness: h, owner, s3 } = await setUpClusterGitOps(log));
}, 30 * 60 * 1000);

afterAll(async () => {
  await h?.close();
  s3?.stop();
  await labDown({ log: () => undefined });
}, 5 * 60 * 1000);

test("the runner runs as a service on the labelled manager and takes over the stack: its first run applies the commit that turned it on, with no change", async () => {
  expect(await onRunnerNode("docker service ps gitops_runner --filter desired-state=running --format '{{.Node}} {{.CurrentState}}'")).toMatch(new RegExp(`^${RUNNER_NODE} Running `));
  const s = await h.handled(h.head(), 900);
  expect(s.lastCommit).toMatchObject({ result: "applied", summary: "no changes" });
  await expectNoChanges();
}, 20 * 60 * 1000);

test("a webhook through Traefik applies a commit labelling a node; a bad signature and a status without the token are refused", async () => {
  const labelled = h.commit("swarm-worker-1 is in the attic", (c) => withLabel(c, "swarm-worker-1", "zone", "attic"));
  expect((await h.push(labelled, undefined, "not-the-secret")).status).toBe(401);
  expect((await h.request("GET", "/status")).status).toBe(401);
  const started = Date.now();
  expect((await h.push(labelled)).status).toBe(202);
  const s = await h.handled(labelled, 900);
  log(`webhook to applied, in the cluster: ${((Date.now() - started) / 1000).toFixed(1)} s (${s.lastCommit?.summary})`);
  expect(s.lastCommit?.result).toBe("applied");
  expect(await swarmLabel("swarm-worker-1", "zone")).toBe("attic");
  expect(h.notes.map((n) => n.title)).toContain(`homelab: ${labelled.slice(0, 12)} applied`);
  const metrics = (await h.request("GET", "/metrics")).text;
  expect(metrics).toMatch(/^homelab_gitops_runs_total\{result="applied"\} [1-9]/m);
  expect(metrics).toMatch(/^homelab_gitops_behind_since_timestamp_seconds 0$/m);
}, 20 * 60 * 1000);

test("a commit that updates the runner's own service is applied by a run the update does not interrupt; the new runner takes over after it", async () => {
  const before = await onRunnerNode("docker service ps gitops_runner --no-trunc --filter desired-state=running --format '{{.ID}}'");
  const update = h.commit("poll every 2 hours", (c) => {
    ((c["homelab:platform"] as Record<string, unknown>).gitops as Record<string, unknown>).interval = "2h";
  });
  await h.push(update);
  // The old runner answers until it has ended its run; then the new one, which read the status it left.
  const s = await h.handled(update, 900);
  expect(s.lastCommit?.result).toBe("applied");
  const after = await onRunnerNode("docker service ps gitops_runner --no-trunc --filter desired-state=running --format '{{.ID}}'");
  expect(after).not.toBe(before);
  const config = await onRunnerNode(`docker exec $(docker ps -q --filter label=com.docker.swarm.service.name=gitops_runner | head -n 1) cat /etc/gitops/config.json`);
  expect(JSON.parse(config).intervalSeconds).toBe(7200);
  // The old task ended on its own after the run (exit 0), not killed at the end of its grace period.
  const old = await onRunnerNode(`docker inspect --format '{{.State.ExitCode}}' $(docker ps -aq --filter label=com.docker.swarm.task.id=${before})`);
  expect(old).toBe("0");
  await expectNoChanges(h.clone);
}, 20 * 60 * 1000);
