/**
 * The GitOps runner's stack as the platform deploys it (stacks/gitops, compose/gitops.ts,
 * config/stacks.ts): loaded from the committed homelab config with homelab:platform.gitops set,
 * its image tag, secrets, config and bundled program; the config errors; and the bundle itself
 * started as the cluster starts it (node <bundle> <config>), answering on its port.
 * Not covered here: the image build on a node and the runner in a swarm (tests/e2e/gitops-cluster).
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitOpsConfig } from "../config/schema";
import { loadStacks } from "../config/stacks";
import { renderStack } from "./render";
import { configIssues, stackConfig } from "../tests/fixtures";
import { freePort } from "../lab/exec";
import { GITOPS_STACK, runnerImageTag } from "./gitops";
import { metricNames, ruleExpressions } from "../monitoring/promql";

const STACKS = path.resolve(__dirname, "..", "stacks");
const gitops: GitOpsConfig = { repository: "https://git.example.org/me/homelab.git", branch: "main", interval: "5m", backend: "s3://homelab-pulumi?endpoint=http://nas:9000&use_path_style=true&region=us-east-1" };
const { config: base } = stackConfig("homelab");
/** The committed config, with GitOps on and its label on the first manager. */
const config = {
  ...base,
  platform: { ...base.platform, gitops },
  nodes: base.nodes.map((n, i) => (i === 0 ? { ...n, labels: { ...n.labels, gitops: "true" } } : n)),
};

const issuesOf = configIssues;
const runnerOf = (hasSecret: (key: string) => boolean = () => true) => loadStacks(config, STACKS, hasSecret, "lab").find((s) => s.name === GITOPS_STACK)!;

describe("stacks/gitops as the platform deploys it", () => {
  test("it is added when homelab:platform.gitops is set, and only then", () => {
    expect(runnerOf()).toBeDefined();
    expect(loadStacks(base, STACKS, () => true).map((s) => s.name)).not.toContain(GITOPS_STACK);
  });

  test("its image is built on the labelled manager under a tag that carries the Dockerfile's hash", () => {
    const stack = runnerOf();
    const dockerfile = fs.readFileSync(path.join(STACKS, "gitops", "Dockerfile"), "utf8");
    const hash = crypto.createHash("sha256").update(dockerfile).digest("hex").slice(0, 12);
    expect(dockerfile).toMatch(/^FROM pulumi\/pulumi-nodejs:3\.259\.0$/m);
    expect(stack.builds).toEqual([{ service: "runner", image: `homelab/gitops-runner:3.259.0-${hash}`, dockerfile, node: config.nodes[0].name }]);
    expect((stack.document.services as any).runner.image).toBe(`homelab/gitops-runner:3.259.0-${hash}`);
    expect(runnerImageTag("homelab/gitops-runner:3.259.0", `${dockerfile}# an edit\n`)).not.toBe(stack.builds![0].image);
    expect(() => runnerImageTag("homelab/gitops-runner", dockerfile)).toThrow(/not name:version/);
  });

  test("its config holds the repository, the stack, the backend and the paths of its secrets, never a value", () => {
    const stack = runnerOf((key) => key !== "gitopsToken" && key !== "gitopsWebhookSecret");
    const runnerConfig = JSON.parse(stack.configs.find((c) => c.key === "gitops_config")!.content);
    expect(runnerConfig).toEqual({
      repository: gitops.repository,
      branch: "main",
      stack: "lab",
      intervalSeconds: 300,
      workDir: "/var/lib/gitops",
      listenPort: 8080,
      backend: gitops.backend,
      ntfyServer: config.platform.monitoring.ntfyServer,
      secrets: { webhookSecretFile: "/run/secrets/gitops_webhook_secret", statusTokenFile: "/run/secrets/gitops_status_token", ntfyTopicFile: "/run/secrets/ntfy_topic" },
    });
    expect(stack.secrets.map((s) => [s.key, s.source])).toEqual([
      ["gitops_passphrase", { kind: "config", key: "gitopsPassphrase" }],
      ["gitops_backend_credentials", { kind: "platform", name: "gitops-backend-credentials" }],
      ["gitops_webhook_secret", { kind: "random", length: 40 }],
      ["gitops_status_token", { kind: "random", length: 40 }],
      ["ntfy_topic", { kind: "platform", name: "ntfy-topic" }],
    ]);
  });

  test("the owner's repository token and webhook secret are used when set", () => {
    const stack = runnerOf();
    expect(JSON.parse(stack.configs.find((c) => c.key === "gitops_config")!.content).secrets.gitTokenFile).toBe("/run/secrets/gitops_token");
    expect(stack.secrets).toContainEqual({ key: "gitops_token", source: { kind: "config", key: "gitopsToken" } });
    expect(stack.secrets).toContainEqual({ key: "gitops_webhook_secret", source: { kind: "config", key: "gitopsWebhookSecret" } });
    const names = { secrets: Object.fromEntries(stack.secrets.map((s) => [s.key, `gitops_${s.key}-00000000`])), configs: Object.fromEntries(stack.configs.map((c) => [c.key, `gitops_${c.key}-00000000`])) };
    const rendered = renderStack(stack, names, { domain: config.domain });
    expect(rendered).toContain("- gitops_token");
    expect(rendered).toContain("name: gitops_gitops_token-00000000");
  });

  test("the volume is backed up, and the runner is pinned to its manager with a long stop grace", () => {
    const stacks = loadStacks(config, STACKS, () => true, "lab");
    const backup = JSON.parse(stacks.find((s) => s.name === "backup")!.configs.find((c) => c.key === "backup_config")!.content);
    expect(backup.volumes.map((v: { swarmVolume: string }) => v.swarmVolume)).toContain("gitops_gitops_work");
    const runner = (runnerOf().document.services as any).runner;
    expect(runner.deploy.placement.constraints).toEqual(["node.role == manager", "node.labels.gitops == true"]);
    expect(runner.deploy.update_config.order).toBe("start-first");
    expect(runner.stop_grace_period).toBe("30m");
  });

  test("missing secrets, a label on a worker, no label, and gitops listed by hand stop the run with the fix", () => {
    const found = issuesOf(() => loadStacks(config, STACKS, (key) => !key.startsWith("gitops")));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^homelab:platform.gitops: needs homelab:gitopsBackendAccessKeyId \(.*\), which is not set. Fix: pulumi config set --secret homelab:gitopsBackendAccessKeyId <value>$/),
        expect.stringMatching(/^stacks\/gitops\/compose.yml: secrets.gitops_passphrase: needs homelab:gitopsPassphrase, which is not set/),
      ]),
    );
    const worker = config.nodes.findIndex((n) => n.role === "worker");
    const onWorker = { ...config, nodes: base.nodes.map((n, i) => (i === worker ? { ...n, labels: { ...n.labels, gitops: "true" } } : n)) };
    expect(issuesOf(() => loadStacks(onWorker, STACKS, () => true))).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^homelab:nodes\\[${worker}\\].labels.gitops: puts the GitOps runner on .*, a worker; it runs on a manager. Fix: move the label to a manager`))]),
    );
    const unlabelled = { ...config, nodes: base.nodes };
    expect(issuesOf(() => loadStacks(unlabelled, STACKS, () => true))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^stacks\/gitops\/compose.yml: services.runner.deploy.placement.constraints: runner is pinned by node.labels.gitops == true, which no node in homelab:nodes matches/)]),
    );
    const listed = { ...base, platform: { ...base.platform, stacks: [...base.platform.stacks, "gitops"] } };
    expect(issuesOf(() => loadStacks(listed, STACKS, () => true))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^homelab:platform.stacks\[\d+\]: is the GitOps runner's stack, which homelab:platform.gitops deploys/)]),
    );
  });
});

describe("the bundled runner", () => {
  test("is one file with no path of this checkout in it, and starts as the service starts it: /healthz and /metrics answer, SIGTERM ends it", async () => {
    const program = runnerOf().configs.find((c) => c.key === "gitops_program")!.content;
    expect(program).not.toContain(path.resolve(__dirname, ".."));
    expect(program).not.toMatch(/require\("\.\.?\//);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bundle-"));
    try {
      const port = await freePort();
      fs.writeFileSync(path.join(dir, "runner.js"), program);
      fs.writeFileSync(path.join(dir, "token"), "t0ken\n");
      // A repository that does not exist: the first poll fails and the runner keeps serving.
      fs.writeFileSync(
        path.join(dir, "config.json"),
        JSON.stringify({ repository: path.join(dir, "no-repo"), branch: "main", stack: "lab", intervalSeconds: 300, workDir: path.join(dir, "work"), listenPort: port, secrets: { statusTokenFile: path.join(dir, "token") } }),
      );
      const child = spawn(process.execPath, [path.join(dir, "runner.js"), path.join(dir, "config.json")], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (c) => (output += c));
      child.stderr.on("data", (c) => (output += c));
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      let health: Response | undefined;
      for (let i = 0; i < 50 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 100));
      }
      expect(`${health?.status} ${output}`).toMatch(/^200 /);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^homelab_gitops_running \d$/m);
      // Every metric the GitOpsBehind alert reads (the monitoring e2e has no runner to ask).
      const rules = ruleExpressions(fs.readFileSync(path.join(STACKS, "monitoring", "rules.yml"), "utf8")).filter((r) => r.expr.includes("homelab_gitops_"));
      expect(rules.length).toBeGreaterThan(0);
      const exported = new Set([...metrics.matchAll(/^([a-z_]+)(?:\{[^}]*\})? /gm)].map((m) => m[1]));
      expect(rules.flatMap((r) => metricNames(r.expr)).filter((name) => !exported.has(name))).toEqual([]);
      expect((await fetch(`http://127.0.0.1:${port}/status`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: "Bearer t0ken" } })).status).toBe(200);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(output).toMatch(/following .* main for stack lab/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
