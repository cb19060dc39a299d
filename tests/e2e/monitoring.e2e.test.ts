/**
 * The monitoring stack and the apps on the lab, through the real Pulumi engine and the real Swarm:
 * Prometheus, Alertmanager and node-exporter are Debian's builds and cAdvisor is built from its
 * library (lab/images); Grafana and the apps are STAND-INs (lab/images/standin: they answer HTTP
 * naming their image, nothing more), so what is checked of them is routing, secrets and placement,
 * not the apps themselves. ntfy is the test's own receiver, an HTTP listener in the worker's network
 * namespace (the lab reaches nothing outside it). Not covered here: temperature on real Pi hardware
 * (the lab host has no thermal zone: the metric's name is checked against node-exporter's output
 * for a sysfs that has one), a real ntfy server rendering the templates, Grafana drawing the dashboard.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { X509Certificate, createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import * as puppeteer from "puppeteer-core";
import * as YAML from "yaml";
import { Inventory, containerName, labDown, sshExec } from "../../lab/lab";
import { Pulumi, editStackConfig, labPulumi, stackPaths, upWithLab } from "../../lab/stack";
import { docker } from "../../lab/host";
import { dashboardMetricNames } from "../../monitoring/grafana";
import { metricNames, ruleExpressions } from "../../monitoring/promql";
import { openWebSocket } from "./websocket";
import { until } from "../../lab/exec";
import { backUp } from "../../lab/drill";
import { apiFromOutputs } from "../../bin/restore";
import { backupTargetAccess, startBackupTarget, stopBackupTarget, wipeBackupRepository } from "../../lab/backup-target";

const log = (line: string) => process.stderr.write(`[e2e-monitoring] ${line}\n`);
const DOMAIN = "lab.home.arpa";
const WORKER = "swarm-worker-1";
const RECEIVER_PORT = 8099;
const APPS = ["vaultwarden", "forgejo", "mealie", "minio", "homeassistant"];
/** 75% of it, less the worker's always-on reservations (~408 MiB), leaves ~417 MiB for JIT apps: Mealie (320) or MinIO (256). */
const WORKER_MIB = 1100;
/** Debian's headless Chromium (lab/host-setup.sh installs it). */
const CHROMIUM = "/usr/bin/chromium-headless-shell";

let pulumi: Pulumi;
let inventory: Inventory;
let outputs: Record<string, any>;
let receiver: ChildProcess | undefined;
const received: { method: string; path: string; body: string }[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const address = (node: string) => inventory.nodes.find((n) => n.name === node)!.address;

function curl(args: string[]): { status: number; body: string } {
  const out = spawnSync("curl", ["-sS", "-m", "10", "-w", "\n%{http_code}", ...args], { encoding: "utf8" });
  const text = out.stdout ?? "";
  const cut = text.lastIndexOf("\n");
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) };
}

/** GET https://<host>.<domain><path> through Traefik on the first manager, trusting the homelab CA. */
function https(host: string, urlPath = "/", extra: string[] = []): { status: number; body: string } {
  const ca = path.join(stackPaths().project, outputs.caCertificateFile);
  const name = `${host}.${DOMAIN}`;
  return curl(["--cacert", ca, "--resolve", `${name}:443:${address("swarm-manager-1")}`, ...extra, `https://${name}${urlPath}`]);
}

/** Prometheus' HTTP API through Traefik, behind the platform's login. */
function prometheus(query: string): any {
  const r = https("prometheus", query, ["-u", `admin:${outputs.traefikDashboardPassword}`]);
  if (r.status !== 200) throw new Error(`prometheus ${query}: ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body).data;
}

/** The test's ntfy: records every request, in the worker's network namespace (the worker's LAN address). */
async function startReceiver(): Promise<void> {
  const pid = (await docker(["inspect", "-f", "{{.State.Pid}}", containerName(WORKER)])).stdout.trim();
  const script = `require("http").createServer((q, s) => { let b = ""; q.on("data", (d) => (b += d)); q.on("end", () => { process.stdout.write(JSON.stringify({ method: q.method, path: q.url, body: b }) + "\\n"); s.end("{}"); }); }).listen(${RECEIVER_PORT}, () => process.stdout.write("listening\\n"));`;
  receiver = spawn("nsenter", [`--net=/proc/${pid}/ns/net`, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let buffer = "";
  receiver.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let cut = buffer.indexOf("\n"); cut >= 0; cut = buffer.indexOf("\n")) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 1);
      if (line.startsWith("{")) received.push(JSON.parse(line));
    }
  });
}

beforeAll(async () => {
  await labDown({ log: () => undefined });
  fs.rmSync(stackPaths().root, { recursive: true, force: true });
  pulumi = await labPulumi(log);
  // Backups go to the lab's SFTP target (backup.e2e tests them): the default, the cluster's MinIO, is a STAND-IN here.
  wipeBackupRepository();
  const target = await backupTargetAccess();
  await pulumi(["config", "set", "--secret", "homelab:backupSshKey"], { input: target.privateKey });
  // The seed's stacks on the lab: monitoring's data on the worker, each app's on a node of its own kind.
  const labels: Record<string, string[]> = { "swarm-worker-1": ["monitoring", "mealie", "minio"], "swarm-manager-2": ["vaultwarden", "homeassistant"], "swarm-manager-3": ["forgejo"] };
  editStackConfig((config) => {
    const platform = config["homelab:platform"] as Record<string, unknown>;
    platform.stacks = ["traefik", "dns", "monitoring", ...APPS];
    platform.monitoring = { ntfy: { server: `http://10.213.99.111:${RECEIVER_PORT}` } };
    platform.backup = { schedule: "168h", repository: target.repository, knownHosts: [target.knownHosts] };
    // Vaultwarden and Forgejo sleep after a minute idle (the seed's default is 30); the worker's RAM
    // is set so that its JIT budget holds Mealie or MinIO, not both (memory-aware waking).
    platform.jit = { "vaultwarden/vaultwarden": { idle: "1m" }, "forgejo/forgejo": { idle: "1m" } };
    for (const node of config["homelab:nodes"] as { name: string; labels?: Record<string, string>; memoryMiB?: number }[]) {
      node.labels = { ...(node.labels ?? {}), ...Object.fromEntries((labels[node.name] ?? []).map((l) => [l, "true"])) };
      if (node.name === WORKER) node.memoryMiB = WORKER_MIB;
    }
  });
  const t0 = Date.now();
  ({ inventory } = await upWithLab(pulumi, log));
  await startBackupTarget(log);
  log(`up with monitoring and ${APPS.length} apps: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(address(WORKER)).toBe("10.213.99.111");
  outputs = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  await startReceiver();
}, 20 * 60 * 1000);

afterAll(async () => {
  receiver?.kill();
  if (pulumi) await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  await labDown({ log: () => undefined });
});

test("Prometheus discovers node-exporter, cAdvisor and dockerd on every node, and every target is up", async () => {
  const nodes = inventory.nodes.map((n) => n.name).sort();
  const byJob = await until("every target up", 180, () => {
    const targets = prometheus("/api/v1/targets?state=active").activeTargets as { labels: Record<string, string>; health: string }[];
    const jobs: Record<string, string[]> = {};
    for (const t of targets.filter((t) => t.labels.job !== "swarm-tasks")) {
      if (t.health !== "up") return undefined;
      (jobs[t.labels.job] ??= []).push(t.labels.node ?? t.labels.instance);
    }
    return ["node-exporter", "cadvisor", "docker-engine"].every((j) => (jobs[j] ?? []).length === nodes.length) ? jobs : undefined;
  });
  expect(byJob["node-exporter"].sort()).toEqual(nodes);
  expect(byJob.cadvisor.sort()).toEqual(nodes);
  expect(byJob["docker-engine"].sort()).toEqual(nodes);
  expect(byJob.alertmanager).toEqual([WORKER]);
  // The JIT helper's and the backup agent's own metrics too (homelab.metrics.port on their services; the job is the service's name in its stack).
  expect(Object.keys(byJob).sort()).toEqual(["agent", "alertmanager", "cadvisor", "docker-engine", "jit", "node-exporter", "prometheus"]);
  // Swarm's task states: every stack's running tasks are series (an app may still be starting).
  // The just-in-time apps sleep at 0 replicas after up: only Home Assistant among the apps runs.
  const stacks = ["backup", "dns", "homeassistant", "jit", "monitoring", "traefik"];
  const running = await until("every stack's tasks running in swarm-tasks", 120, () => {
    const rows = prometheus(`/api/v1/query?query=${encodeURIComponent('count by (stack) (up{job="swarm-tasks", state="running"})')}`).result as { metric: { stack: string } }[];
    const seen = rows.map((r) => r.metric.stack).sort();
    return stacks.every((s) => seen.includes(s)) ? seen : undefined;
  });
  expect(running).toEqual(expect.arrayContaining(stacks));
});

test("every metric a rule or a dashboard panel uses is one the exporters really export here", async () => {
  const rules = ruleExpressions(fs.readFileSync(path.join(__dirname, "..", "..", "stacks", "monitoring", "rules.yml"), "utf8"));
  // The GitOps runner is not deployed here: its metric names are checked against the runner's own
  // /metrics in compose/gitops.test.ts.
  const wanted = new Set([...rules.flatMap((r) => metricNames(r.expr)), ...dashboardMetricNames()].filter((name) => !name.startsWith("homelab_gitops_")));
  // cAdvisor and dockerd export on their first scrape; give every job one.
  const exported = await until("cAdvisor's container metrics", 120, () => {
    const names = new Set(prometheus("/api/v1/label/__name__/values") as string[]);
    return names.has("container_memory_working_set_bytes") ? names : undefined;
  });
  // The lab host has no thermal zone (a container cannot make one): that name is checked against
  // node-exporter's real output for a sysfs that has one, in the lab image tests.
  const hasThermal = fs.existsSync("/sys/class/thermal/thermal_zone0/temp");
  const missing = [...wanted].filter((name) => !exported.has(name) && !(name === "node_thermal_zone_temp" && !hasThermal));
  expect(missing).toEqual([]);
  log(`metric names used by rules and dashboards, all exported: ${[...wanted].sort().join(", ")}`);
});

test("a stopped exporter fires TargetDown to ntfy within the rule's `for` plus a minute, and it resolves when it is back", async () => {
  const topic = outputs.ntfyTopic as string;
  expect(topic).toMatch(/^[A-Za-z0-9]{32}$/);
  const alertsFor = (status: string) =>
    received.filter((r) => r.path.startsWith(`/${topic}?`)).map((r) => JSON.parse(r.body)).filter((b) => b.status === status && b.commonLabels.alertname === "TargetDown" && b.commonLabels.node === WORKER);
  // A hung exporter: the task stays "running" for Swarm (no restart), the scrape times out.
  const find = `docker ps -q --filter label=com.docker.swarm.service.name=monitoring_node-exporter`;
  const container = (await sshExec(WORKER, find)).stdout.trim();
  expect(container).toMatch(/^[0-9a-f]+$/);
  const t0 = Date.now();
  await sshExec(WORKER, `docker pause ${container}`);
  try {
    const firing = await until("TargetDown firing at the receiver", 2 * 60 + 60, () => alertsFor("firing")[0]);
    log(`TargetDown reached ntfy after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(firing.commonLabels).toMatchObject({ job: "node-exporter", severity: "warning" });
    expect(firing.alerts[0].annotations.summary).toBe(`node-exporter on ${WORKER} has not answered Prometheus for 2 minutes.`);
    // ntfy's own templates render the title and message from this body (tpl=yes).
    const request = received.find((r) => r.path.startsWith(`/${topic}?`))!;
    expect(request.method).toBe("POST");
    expect(new URL(`http://x${request.path}`).searchParams.get("tpl")).toBe("yes");
  } finally {
    await sshExec(WORKER, `docker unpause ${container}`);
  }
  const t1 = Date.now();
  // Alertmanager sends a resolved alert at the group's next interval (2 min).
  await until("TargetDown resolved at the receiver", 4 * 60, () => alertsFor("resolved")[0]);
  log(`resolved after ${((Date.now() - t1) / 1000).toFixed(0)} s`);
});

test("a failed backup fires BackupFailed to ntfy, and the next good backup resolves it", async () => {
  const topic = outputs.ntfyTopic as string;
  const volume = "homeassistant_config";
  const alertsFor = (status: string) =>
    received.filter((r) => r.path.startsWith(`/${topic}?`)).map((r) => JSON.parse(r.body)).filter((b) => b.status === status && b.commonLabels.alertname === "BackupFailed" && b.commonLabels.volume === volume);
  // The stand-in writes nothing, and an empty volume counts as a failure: a file of the owner's.
  expect((await sshExec("swarm-manager-2", `docker run --rm --entrypoint /bin/sh -v ${volume}:/data restic/restic:0.14.0 -c 'echo owner-data > /data/marker.txt'`)).code).toBe(0);
  const api = apiFromOutputs(outputs, stackPaths().project, address("swarm-manager-1"));
  // The repository's server down: the run's repository check fails, and nothing is stopped.
  await stopBackupTarget();
  const t0 = Date.now();
  try {
    const { status } = await backUp(api, log, volume);
    const v = status.volumes.find((x) => x.swarmVolume === volume)!;
    expect(v.lastResult).toBe("failed");
    expect(v.lastError).toMatch(/repository/);
    expect(await replicas("homeassistant_homeassistant")).toBe(1);
    const firing = await until("BackupFailed firing at the receiver", 4 * 60, () => alertsFor("firing")[0]);
    log(`BackupFailed reached ntfy ${((Date.now() - t0) / 1000).toFixed(0)} s after the backup was asked`);
    expect(firing.alerts[0].annotations.summary).toContain(volume);
  } finally {
    await startBackupTarget(log);
  }
  const { status } = await backUp(api, log, volume);
  expect(status.volumes.find((x) => x.swarmVolume === volume)!.lastResult).toBe("ok");
  const t1 = Date.now();
  await until("BackupFailed resolved at the receiver", 5 * 60, () => alertsFor("resolved")[0]);
  log(`BackupFailed resolved ${((Date.now() - t1) / 1000).toFixed(0)} s after the good backup`);
});

/** The JIT helper's API through Traefik. */
function jitApi(apiPath: string, method = "GET", token: string | null = outputs.generatedSecrets["jit/jit_token"]): { status: number; body: string } {
  return https("jit", apiPath, ["-X", method, ...(token !== null ? ["-H", `Authorization: Bearer ${token}`] : [])]);
}

async function replicas(service: string): Promise<number> {
  return Number((await sshExec("swarm-manager-1", `docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' ${service}`)).stdout.trim());
}

async function runningTasks(service: string): Promise<number> {
  return (await sshExec("swarm-manager-1", `docker service ps -q --filter desired-state=running ${service}`)).stdout.trim().split("\n").filter(Boolean).length;
}

describe("just-in-time apps (the helper on node:18.20.4 from Debian's nodejs, the apps STAND-INs)", () => {
  test("after up the JIT apps sleep at 0 replicas; the helper's API wants its token and lists them", async () => {
    for (const app of ["vaultwarden_vaultwarden", "forgejo_forgejo", "mealie_mealie", "minio_minio"]) expect({ app, replicas: await replicas(app) }).toEqual({ app, replicas: 0 });
    expect(await replicas("homeassistant_homeassistant")).toBe(1);
    expect(jitApi("/api/status", "GET", null).status).toBe(401);
    expect(jitApi("/api/status", "GET", "wrong-token").status).toBe(401);
    const status = await until("the helper's API", 60, () => {
      const r = jitApi("/api/status");
      return r.status === 200 ? JSON.parse(r.body) : undefined;
    });
    expect(status.services.map((s: { name: string; state: string }) => [s.name, s.state]).sort()).toEqual([
      ["forgejo/forgejo", "asleep"],
      ["mealie/mealie", "asleep"],
      ["minio/minio", "asleep"],
      ["vaultwarden/vaultwarden", "asleep"],
    ]);
    expect(jitApi("/api/wake/not-a-service", "POST").status).toBe(404);
    expect(jitApi("/api/wake/vaultwarden%2Fvaultwarden", "GET").status).toBe(405);
  });

  test("50 simultaneous first requests wake a sleeping app once, and every one is served", async () => {
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        new Promise<{ status: number; body: string }>((resolve) => {
          const ca = path.join(stackPaths().project, outputs.caCertificateFile);
          const child = spawn("curl", ["-sS", "-m", "60", "-w", "\n%{http_code}", "--cacert", ca, "--resolve", `git.${DOMAIN}:443:${address("swarm-manager-1")}`, `https://git.${DOMAIN}/api/healthz`]);
          let out = "";
          child.stdout.on("data", (d: Buffer) => (out += d.toString()));
          child.on("close", () => {
            const cut = out.lastIndexOf("\n");
            resolve({ status: Number(out.slice(cut + 1)), body: out.slice(0, cut) });
          });
        }),
      ),
    );
    log(`50 first requests to a sleeping forgejo: all answered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    for (const a of answers) expect(a.body).toContain("STAND-IN for codeberg.org/forgejo/forgejo:9.0.3");
    expect(await replicas("forgejo_forgejo")).toBe(1);
    expect(await runningTasks("forgejo_forgejo")).toBe(1);
    // The helper counted one wake (Prometheus scrapes it; the helper's `service` label is exported_service there).
    const wakes = await until("jit_wakes_total in Prometheus", 60, () => {
      const result = prometheus(`/api/v1/query?query=${encodeURIComponent('jit_wakes_total{exported_service="forgejo/forgejo"}')}`).result as { value: [number, string] }[];
      // The series exists at 0 before the wake is scraped: wait for the scrape that counts it.
      return result.length > 0 && Number(result[0].value[1]) > 0 ? Number(result[0].value[1]) : undefined;
    });
    expect(wakes).toBe(1);
  });

  test("a real browser (headless Chromium) gets the splash page at once, and it turns into the app without a click", async () => {
    const name = `recipes.${DOMAIN}`;
    // Chromium trusts exactly the homelab's server key (the certificate Traefik serves, checked here
    // against the homelab CA first); its own trust store is not touched.
    const served = await new Promise<X509Certificate>((resolve, reject) => {
      const ca = fs.readFileSync(path.join(stackPaths().project, outputs.caCertificateFile));
      const socket = tls.connect({ host: address("swarm-manager-1"), port: 443, servername: name, ca }, () => {
        resolve(new X509Certificate(socket.getPeerCertificate().raw));
        socket.end();
      });
      socket.on("error", reject);
    });
    const spki = createHash("sha256").update(served.publicKey.export({ type: "spki", format: "der" })).digest("base64");
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      // --no-sandbox: the tests run as root, where Chromium's sandbox cannot start.
      args: ["--no-sandbox", `--host-resolver-rules=MAP ${name} ${address("swarm-manager-1")}`, `--ignore-certificate-errors-spki-list=${spki}`],
    });
    try {
      const page = await browser.newPage();
      const navigations: number[] = [];
      page.on("response", (r) => {
        if (r.request().isNavigationRequest() && r.request().frame() === page.mainFrame()) navigations.push(r.status());
      });
      const t0 = Date.now();
      const first = await page.goto(`https://${name}/`, { waitUntil: "domcontentloaded" });
      // The splash page is not the app's content: 503 with Retry-After, so nothing caches it.
      expect(first?.status()).toBe(503);
      expect(first?.headers()["retry-after"]).toBe("5");
      expect(await page.title()).toBe("Starting mealie/mealie");
      // No click, no input: the page's own script asks the helper and reloads into the app.
      const text = await until("the splash page turned into Mealie", 90, async () => {
        // A string, evaluated in the page: the tests compile without the DOM's types.
        const body = String(await page.evaluate('document.body ? document.body.innerText : ""'));
        return body.includes("STAND-IN for ghcr.io/mealie-recipes/mealie") ? body : undefined;
      });
      log(`Chromium: splash page, then Mealie ${((Date.now() - t0) / 1000).toFixed(1)} s after the first request; navigations ${navigations.join(", ")}`);
      expect(text).toContain(`host: ${name}`);
      expect(navigations[0]).toBe(503);
      expect(navigations[navigations.length - 1]).toBe(200);
      expect(page.url()).toBe(`https://${name}/`);
    } finally {
      await browser.close();
    }
  });

  test("waking MinIO on the full worker stops the least recently used idle app there (Mealie) first", async () => {
    expect(await replicas("mealie_mealie")).toBe(1);
    const r = await until("minio through the helper", 90, () => {
      const a = https("minio");
      return a.status === 200 ? a : undefined;
    });
    expect(r.body).toContain("port: 9001");
    expect(await replicas("minio_minio")).toBe(1);
    expect(await replicas("mealie_mealie")).toBe(0);
    const status = JSON.parse(jitApi("/api/status").body);
    const worker = status.nodes.find((n: { name: string }) => n.name === WORKER);
    expect(worker.reservedBytes).toBeLessThanOrEqual(worker.jitBudgetBytes);
  });

  test("a redeploy of an app's stack keeps the replicas the helper set, awake or asleep", async () => {
    expect(await replicas("minio_minio")).toBe(1);
    expect(await replicas("mealie_mealie")).toBe(0);
    // An owner's edit of both compose files (in the lab's working copy of the program): both stacks redeploy.
    for (const app of ["minio", "mealie"]) {
      const file = path.join(stackPaths().project, "stacks", app, "compose.yml");
      const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
      doc.setIn(["services", app, "environment", "HOMELAB_E2E_EDIT"], "1");
      fs.writeFileSync(file, doc.toString());
    }
    const up = await pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/homelab-platform-minio-deploy/);
    expect(up.stdout).toMatch(/homelab-platform-mealie-deploy/);
    expect(await replicas("minio_minio")).toBe(1);
    expect(await replicas("mealie_mealie")).toBe(0);
  });

  test("an app idle for its timeout goes back to 0; a restarted helper stops nothing in use", async () => {
    expect(https("vault", "/alive").status).toBe(200);
    expect(await replicas("vaultwarden_vaultwarden")).toBe(1);
    // The helper restarts (a new task): MinIO, awake, stays awake, and the helper knows it.
    await sshExec("swarm-manager-1", "docker service update --force --detach=false jit_jit >/dev/null");
    const after = await until("the helper back", 90, () => {
      const r = jitApi("/api/status");
      return r.status === 200 ? JSON.parse(r.body) : undefined;
    });
    expect(after.services.find((s: { name: string }) => s.name === "minio/minio").state).toBe("awake");
    expect(await replicas("minio_minio")).toBe(1);
    // Vaultwarden's idle time is 1 min (checked every 10 s).
    const t0 = Date.now();
    await until("vaultwarden asleep again", 150, async () => ((await replicas("vaultwarden_vaultwarden")) === 0 ? true : undefined));
    log(`vaultwarden went back to 0 replicas ${((Date.now() - t0) / 1000).toFixed(0)} s after the helper's restart (its last request came before it; idle time 1 min)`);
  });

  test("an open websocket keeps its app awake past the idle time; closed, the app goes back to 0", async () => {
    // Forgejo's idle time is 1 min here; the 50-request test woke it long before, so it is asleep
    // now or about to be: the upgrade is held until it answers, as any request.
    await until("forgejo asleep", 150, async () => ((await replicas("forgejo_forgejo")) === 0 ? true : undefined));
    const ca = path.join(stackPaths().project, outputs.caCertificateFile);
    const ws = await openWebSocket({ address: address("swarm-manager-1"), name: `git.${DOMAIN}`, path: "/stream", caFile: ca });
    try {
      const opened = Date.now();
      await until("the stand-in's first frames", 10, () => (ws.texts.length >= 2 ? true : undefined));
      expect(ws.texts[0]).toContain("STAND-IN for codeberg.org/forgejo/forgejo:9.0.3");
      ws.send("hello through traefik and the helper");
      await until("the echo", 10, () => (ws.texts.includes("echo: hello through traefik and the helper") ? true : undefined));
      // Past the idle time plus one check (10 s) plus margin, the app stays up, the socket live.
      while (Date.now() - opened < 100_000) {
        await sleep(10_000);
        expect({ replicas: await replicas("forgejo_forgejo"), closed: ws.closed() }).toEqual({ replicas: 1, closed: false });
      }
      const ticks = ws.texts.filter((t) => t.startsWith("tick ")).length;
      expect(ticks).toBeGreaterThanOrEqual(90);
      const forgejo = JSON.parse(jitApi("/api/status").body).services.find((s: { name: string }) => s.name === "forgejo/forgejo");
      expect(forgejo).toMatchObject({ state: "awake", openConnections: 1 });
      log(`websocket open ${((Date.now() - opened) / 1000).toFixed(0)} s (idle time 60 s): forgejo stayed at 1 replica; ${ticks} frames came through`);
    } finally {
      await ws.close();
    }
    const closed = Date.now();
    await until("forgejo asleep once the websocket closed", 120, async () => ((await replicas("forgejo_forgejo")) === 0 ? true : undefined));
    log(`forgejo back to 0 replicas ${((Date.now() - closed) / 1000).toFixed(0)} s after the websocket closed`);
  });

  test("a sleeping JIT app's volume is backed up under the helper's hold: a request meanwhile gets 503, and the app stays asleep", async () => {
    await until("vaultwarden asleep", 150, async () => ((await replicas("vaultwarden_vaultwarden")) === 0 ? true : undefined));
    // The stand-in writes nothing, and an empty volume counts as a failed backup (the wrong node, most likely): a file of the owner's.
    const marker = await sshExec("swarm-manager-2", "docker run --rm --entrypoint /bin/sh -v vaultwarden_data:/data restic/restic:0.14.0 -c 'echo owner-data > /data/marker.txt'");
    expect(marker.code).toBe(0);
    const api = apiFromOutputs(outputs, stackPaths().project, address("swarm-manager-1"));
    const backup = backUp(api, log, "vaultwarden_data");
    // While held, a request does not wake it: 503 with the reason (polled closely: the hold lasts seconds).
    const during = await until("a request during the hold", 60, () => {
      const held = JSON.parse(jitApi("/api/status").body).services.find((x: { name: string }) => x.name === "vaultwarden/vaultwarden");
      return held.heldUntil ? https("vault", "/alive") : undefined;
    }, 200);
    expect(during.status).toBe(503);
    const { status } = await backup;
    const v = status.volumes.find((x) => x.swarmVolume === "vaultwarden_data")!;
    expect({ result: v.lastResult, error: v.lastError }).toMatchObject({ result: "ok" });
    expect(await replicas("vaultwarden_vaultwarden")).toBe(0);
    const after = JSON.parse(jitApi("/api/status").body).services.find((x: { name: string }) => x.name === "vaultwarden/vaultwarden");
    expect(after.heldUntil ?? null).toBeNull();
    // Released: the next request wakes it as always.
    expect(https("vault", "/alive").status).toBe(200);
  });

  test("a bounded fuzz of malformed requests straight at the helper: no 5xx, no crash, no restart", async () => {
    const node = (await sshExec("swarm-manager-1", "docker service ps --filter desired-state=running --format '{{.Node}}' jit_jit")).stdout.trim().split("\n")[0];
    const container = async () => (await sshExec(node, "docker ps -q --filter label=com.docker.swarm.service.name=jit_jit")).stdout.trim();
    const before = await container();
    expect(before).toMatch(/^[0-9a-f]+$/);
    // Inside the helper's own container: its port directly, past Traefik (tests/e2e/jit-fuzz.js).
    const seed = Number(process.env.JIT_FUZZ_SEED ?? Date.now() % 100000);
    const script = fs.readFileSync(path.join(__dirname, "jit-fuzz.js"), "utf8");
    const run = await sshExec(node, `docker exec -i ${before} node - ${seed} 500 jit.${DOMAIN}`, { input: script, timeoutMs: 10 * 60 * 1000 });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!);
    log(`fuzz (seed ${seed}, JIT_FUZZ_SEED replays it): ${JSON.stringify(result.byStatus)}`);
    expect(result.fivexx).toEqual([]);
    expect(Object.values(result.byStatus as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(500);
    // The same process still serves: same container, and the API through Traefik answers.
    expect(await container()).toBe(before);
    expect(jitApi("/api/status").status).toBe(200);
    const logs = (await sshExec(node, `docker logs ${before} 2>&1 | grep -ciE 'uncaught|unhandled|fatal' || true`)).stdout.trim();
    expect(logs).toBe("0");
  });
});

test("Grafana's and every app's router answers through Traefik, each reaching its own service", async () => {
  const minio = "minio/minio:RELEASE.2024-12-18T13-15-44Z";
  const hosts: Record<string, string> = { grafana: "grafana/grafana:11.4.0", vault: "vaultwarden/server:1.32.7", git: "codeberg.org/forgejo/forgejo:9.0.3", recipes: "ghcr.io/mealie-recipes/mealie:v2.4.2", s3: minio, minio, ha: "ghcr.io/home-assistant/home-assistant:2024.12.5" };
  for (const [host, image] of Object.entries(hosts)) {
    const answer = await until(`https://${host}.${DOMAIN}/`, 60, () => {
      const r = https(host);
      return r.status === 200 ? r : undefined;
    });
    // The stand-in names its image, the Host it was asked for and, for MinIO's two routes, the port.
    expect(answer.body).toContain(`STAND-IN for ${image}`);
    expect(answer.body).toContain(`host: ${host}.${DOMAIN}`);
  }
  expect(https("s3").body).toContain("port: 9000");
  expect(https("minio").body).toContain("port: 9001");
  for (const host of ["prometheus", "alertmanager"]) {
    expect({ host, status: https(host).status }).toEqual({ host, status: 401 });
  }
  expect(Object.keys(outputs.urls)).toEqual(expect.arrayContaining(["monitoring/grafana", "monitoring/prometheus", "vaultwarden/vaultwarden", "minio/minio", "minio/minio@minio"]));
  expect(Object.keys(outputs.generatedSecrets)).toEqual(expect.arrayContaining(["monitoring/grafana_admin_password"]));
});

test("stateful services run only on the node labelled for them", async () => {
  const placed = async (service: string) =>
    (await sshExec("swarm-manager-1", `docker service ps --filter desired-state=running --format '{{.Node}}' ${service}`)).stdout.trim().split("\n").filter(Boolean);
  expect(await placed("monitoring_prometheus")).toEqual([WORKER]);
  expect(await placed("monitoring_grafana")).toEqual([WORKER]);
  expect(await placed("homeassistant_homeassistant")).toEqual(["swarm-manager-2"]);
  expect(await placed("forgejo_forgejo")).toEqual(["swarm-manager-3"]);
  // And a second up changes nothing.
  const again = await pulumi(["up", "--yes", "--expect-no-changes"], { allowFail: true });
  expect(again.code).toBe(0);
});
