/**
 * `npm run bench:jit`: the just-in-time path on the lab, with the program's own Traefik and JIT
 * helper and the whoami smoke stack made just-in-time (its lab image is a STAND-IN answering
 * HTTP at once, so what is timed is the platform, not an app's start-up):
 *   - cold start: from the first request to the sleeping service until its first 200, through
 *     Traefik and the helper (a non-browser client, held until ready), median of BENCH_RUNS (≥ 5);
 *   - floor, in the same run: the same service scaled 0→1 by hand on the manager
 *     (`docker service scale`) and polled directly at its task address (tasks.<service>, from the
 *     helper's own container, so on the same overlay network) until its first 200;
 *   - overhead and throughput: the same running service through the same Traefik with and without
 *     the JIT path (a second router added to the service's labels for the benchmark only, straight
 *     to its tasks): latency p50/p99 with one connection, requests/s with 16 (wrk, Debian's), the
 *     two alternated and each the median of BENCH_ROUNDS rounds;
 *   - the helper's resident memory at rest (VmRSS of its process, before any traffic) and after.
 * Last line: `cold_start_median_s=… floor_median_s=… overhead_p50_ms=… overhead_p99_ms=…
 * rps_direct=… rps_via_jit=… helper_rss_mib=…`.
 * Targets (issue 10): cold start ≤ 1.5 s and ≤ 2× the floor; p99 overhead ≤ 1 ms; rps via JIT
 * ≥ 0.8× direct; helper RSS at rest ≤ 48 MiB. The lab is torn down at the end (BENCH_KEEP=1 keeps it).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { labDown, sshExec } from "./lab";
import { median } from "./median";
import { editStackConfig, labPulumi, stackPaths, upWithLab } from "./stack";

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS_PER_ROUND = Number(process.env.BENCH_SECONDS ?? 8);
const DOMAIN = "lab.home.arpa";
const MANAGER = "swarm-manager-1";
const SERVICE = "whoami_whoami";
const JIT_NAME = "whoami/whoami";
const log = (line: string) => process.stderr.write(`[bench-jit] ${line}\n`);
const quiet = () => undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let managerAddress = "";
let caFile = "";
let token = "";

function curl(host: string, urlPath: string, extra: string[] = [], timeoutSeconds = 30): { status: number; seconds: number; body: string } {
  const name = `${host}.${DOMAIN}`;
  const out = spawnSync(
    "curl",
    ["-sS", "-m", String(timeoutSeconds), "-w", "\n%{http_code} %{time_total}", "--cacert", caFile, "--resolve", `${name}:443:${managerAddress}`, ...extra, `https://${name}${urlPath}`],
    { encoding: "utf8" },
  );
  const text = out.stdout ?? "";
  const cut = text.lastIndexOf("\n");
  const [status, seconds] = text.slice(cut + 1).split(" ").map(Number);
  return { status, seconds, body: text.slice(0, cut) };
}

const api = (apiPath: string, method = "GET") => curl("jit", apiPath, ["-X", method, "-H", `Authorization: Bearer ${token}`]);

async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s`);
    await sleep(250);
  }
}

async function onManager(command: string, input?: string): Promise<string> {
  const r = await sshExec(MANAGER, command, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`on ${MANAGER}: ${command}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Asleep for real: the helper says so and no task of the service runs any more. */
async function putToSleep(): Promise<void> {
  const r = api(`/api/stop/${encodeURIComponent(JIT_NAME)}`, "POST");
  if (r.status >= 300 && r.status !== 409) throw new Error(`stop ${JIT_NAME}: ${r.status} ${r.body}`);
  await until(`${SERVICE} at 0 tasks`, 60, async () => {
    const state = JSON.parse(api("/api/status").body).services.find((s: { name: string }) => s.name === JIT_NAME)?.state;
    if (state !== "asleep") return undefined;
    const running = await onManager(`docker ps -q --filter label=com.docker.swarm.service.name=${SERVICE} | wc -l; docker service ps -q --filter desired-state=running ${SERVICE} | wc -l`);
    return running.split(/\s+/).every((n) => n === "0") ? true : undefined;
  });
  // The stopped task's DNS entry goes with it; a moment more so that no run starts with it lingering.
  await sleep(1000);
}

/** The helper's container on the node that runs it, and that node's name. */
async function helperContainer(): Promise<{ node: string; id: string }> {
  const node = await onManager("docker service ps --filter desired-state=running --format '{{.Node}}' jit_jit | head -1");
  const id = (await sshExec(node, "docker ps -q --filter label=com.docker.swarm.service.name=jit_jit | head -1")).stdout.trim();
  if (!node || !id) throw new Error("the JIT helper's container is not running");
  return { node, id };
}

async function helperRssMiB(): Promise<number> {
  const { node, id } = await helperContainer();
  // The image has node and little else (no cat).
  const status = (await sshExec(node, `docker exec ${id} node -e 'process.stdout.write(require("fs").readFileSync("/proc/1/status", "utf8"))'`)).stdout;
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  if (!kib) throw new Error(`no VmRSS in the helper's /proc/1/status:\n${status}`);
  return kib / 1024;
}

/** Polls tasks.<service> from inside the helper's container every 10 ms; prints the epoch ms of the first 200. */
const POLLER = `
const http = require("http"), dns = require("dns");
const deadline = Date.now() + 60000;
function attempt() {
  if (Date.now() > deadline) { console.log("timeout"); process.exit(1); }
  dns.lookup("tasks.${SERVICE}", { all: true }, (err, addrs) => {
    if (err || !addrs.length) return setTimeout(attempt, 10);
    const req = http.get({ host: addrs[0].address, port: 80, path: "/", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      if (res.statusCode === 200) { console.log("first200=" + Date.now()); process.exit(0); }
      setTimeout(attempt, 10);
    });
    req.on("error", () => setTimeout(attempt, 10));
    req.on("timeout", () => req.destroy());
  });
}
console.log("polling"); attempt();
`;

async function floorOnce(): Promise<number> {
  const { node, id } = await helperContainer();
  await sshExec(node, "cat > /tmp/homelab-bench-poll.js", { input: POLLER });
  // The poller starts first (container exec takes a moment), then the scale is timed from its command.
  const script = [
    "set -e",
    `docker exec -i ${id} node - </tmp/homelab-bench-poll.js >/tmp/homelab-bench-poll.out 2>&1 &`,
    "poller=$!",
    "sleep 1",
    "t0=$(date +%s%3N)",
    `docker service scale -d ${SERVICE}=1 >/dev/null`,
    "wait $poller || true",
    'echo "t0=$t0"; cat /tmp/homelab-bench-poll.out',
  ].join("\n");
  // The helper runs on a manager, so the scale is issued there too: one clock for both timestamps.
  const r = await sshExec(node, script, { timeoutMs: 120_000 });
  const out = r.stdout;
  if (r.code !== 0) throw new Error(`floor run on ${node}: exit ${r.code}: ${r.stderr.trim()}`);
  const t0 = Number(/t0=(\d+)/.exec(out)?.[1]);
  const t1 = Number(/first200=(\d+)/.exec(out)?.[1]);
  if (!t0 || !t1) throw new Error(`floor run gave no timing:\n${out}`);
  return (t1 - t0) / 1000;
}

interface WrkResult {
  p50Ms: number;
  p99Ms: number;
  rps: number;
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value);
  if (!m) throw new Error(`wrk latency ${value}`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as "us" | "ms" | "s"];
}

/** wrk against Traefik with the given Host (SNI is the address: Traefik serves its default, the wildcard). */
function wrk(host: string, connections: number): WrkResult {
  const out = spawnSync("wrk", ["-t", connections > 1 ? "2" : "1", "-c", String(connections), "-d", `${SECONDS_PER_ROUND}s`, "--latency", "-H", `Host: ${host}.${DOMAIN}`, `https://${managerAddress}/`], {
    encoding: "utf8",
  });
  if (out.status !== 0) throw new Error(`wrk: ${out.stderr}`);
  const text = out.stdout;
  const p = (q: string) => toMs(new RegExp(`^\\s+${q}%\\s+(\\S+)`, "m").exec(text)?.[1] ?? "?");
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) throw new Error(`wrk to ${host}: ${non2xx[1]} answers were not 2xx:\n${text}`);
  return { p50Ms: p("50"), p99Ms: p("99"), rps };
}

async function main(): Promise<void> {
  if (spawnSync("wrk", ["-v"]).error) throw new Error("wrk is missing: run `bash lab/host-setup.sh` (it installs Debian's wrk)");
  const pulumi = await labPulumi(log);
  await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  await labDown({ log: quiet });
  editStackConfig((config) => {
    const platform = config["homelab:platform"] as Record<string, unknown>;
    platform.stacks = ["traefik", "whoami"];
    // Only whoami; it must not go back to sleep on its own during the bench.
    platform.jit = { "whoami/whoami": { idle: "30m" } };
    // A JIT service is pinned to the node whose memory it takes: the worker here.
    for (const node of config["homelab:nodes"] as { name: string; labels?: Record<string, string> }[]) {
      if (node.name === "swarm-worker-1") node.labels = { ...(node.labels ?? {}), whoami: "true" };
    }
  });
  // The lab's working copy of the program (not the checkout): whoami pinned by that label.
  const compose = path.join(stackPaths().project, "stacks", "whoami", "compose.yml");
  const doc = YAML.parseDocument(fs.readFileSync(compose, "utf8"));
  doc.setIn(["services", "whoami", "deploy", "placement", "constraints"], ["node.labels.whoami == true"]);
  fs.writeFileSync(compose, doc.toString());
  log("lab up with traefik, the JIT helper and whoami (just-in-time) ...");
  const { inventory } = await upWithLab(pulumi, quiet);
  managerAddress = inventory.nodes.find((n) => n.name === MANAGER)!.address;
  const outputs = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
  caFile = path.join(stackPaths().project, outputs.caCertificateFile);
  token = outputs.generatedSecrets["jit/jit_token"];
  try {
    await until("the helper's API", 120, () => (api("/api/status").status === 200 ? true : undefined));
    await sleep(5000);
    const rssAtRest = await helperRssMiB();
    log(`helper RSS at rest: ${rssAtRest.toFixed(1)} MiB`);

    const cold: number[] = [];
    const floor: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      await putToSleep();
      const r = curl("whoami", "/", [], 60);
      if (r.status !== 200) throw new Error(`cold start ${i}: ${r.status} ${r.body.slice(0, 300)}`);
      cold.push(r.seconds);
      await putToSleep();
      floor.push(await floorOnce());
      log(`run ${i}: cold start through Traefik and the helper ${cold[i - 1].toFixed(2)} s; by hand, polled directly ${floor[i - 1].toFixed(2)} s`);
    }

    // The same running service, a second router straight to it (benchmark only; `pulumi up` would drop it).
    const router = "bench-direct";
    const labels = {
      "traefik.enable": "true",
      [`traefik.http.routers.${router}.rule`]: `Host(\`direct.${DOMAIN}\`)`,
      [`traefik.http.routers.${router}.entrypoints`]: "websecure",
      [`traefik.http.routers.${router}.tls`]: "true",
      [`traefik.http.routers.${router}.middlewares`]: "lan-only@file",
      [`traefik.http.routers.${router}.service`]: router,
      [`traefik.http.services.${router}.loadbalancer.server.port`]: "80",
    };
    await onManager(`docker service update -d ${Object.entries(labels).map(([k, v]) => `--label-add '${k}=${v}'`).join(" ")} ${SERVICE} >/dev/null`);
    const viaJit = curl("whoami", "/");
    if (viaJit.status !== 200) throw new Error(`whoami via the helper: ${viaJit.status}`);
    await until("Traefik's direct router", 60, () => (curl("direct", "/").status === 200 ? true : undefined));
    const taskIds = await onManager(`docker service ps -q --filter desired-state=running ${SERVICE}`);

    const latency = { direct: [] as WrkResult[], jit: [] as WrkResult[] };
    const load = { direct: [] as WrkResult[], jit: [] as WrkResult[] };
    wrk("direct", 1);
    wrk("whoami", 1); // warm both paths' connections and caches
    for (let round = 1; round <= ROUNDS; round++) {
      latency.direct.push(wrk("direct", 1));
      latency.jit.push(wrk("whoami", 1));
      load.direct.push(wrk("direct", 16));
      load.jit.push(wrk("whoami", 16));
      const f = (r: WrkResult) => `p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms`;
      log(
        `round ${round}: direct ${f(latency.direct[round - 1])}, ${load.direct[round - 1].rps.toFixed(0)} req/s; via JIT ${f(latency.jit[round - 1])}, ${load.jit[round - 1].rps.toFixed(0)} req/s`,
      );
    }
    if ((await onManager(`docker service ps -q --filter desired-state=running ${SERVICE}`)) !== taskIds) throw new Error("whoami's task changed during the load rounds: the comparison is void");
    const rssAfter = await helperRssMiB();
    log(`helper RSS after the load: ${rssAfter.toFixed(1)} MiB`);

    const med = (rs: WrkResult[], k: keyof WrkResult) => median(rs.map((r) => r[k]));
    const result = {
      cold_start_median_s: median(cold).toFixed(2),
      floor_median_s: median(floor).toFixed(2),
      overhead_p50_ms: (med(latency.jit, "p50Ms") - med(latency.direct, "p50Ms")).toFixed(2),
      overhead_p99_ms: (med(latency.jit, "p99Ms") - med(latency.direct, "p99Ms")).toFixed(2),
      rps_direct: med(load.direct, "rps").toFixed(0),
      rps_via_jit: med(load.jit, "rps").toFixed(0),
      helper_rss_mib: rssAtRest.toFixed(1),
    };
    log(`cold start / floor = ${(median(cold) / median(floor)).toFixed(2)}; rps via JIT / direct = ${(med(load.jit, "rps") / med(load.direct, "rps")).toFixed(2)}`);
    process.stdout.write(`${Object.entries(result).map(([k, v]) => `${k}=${v}`).join(" ")}\n`);
  } finally {
    if (!process.env.BENCH_KEEP) {
      await pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
      await labDown({ log: quiet });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench-jit] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
