/**
 * The JIT helper (jit.js) as it runs on the Pis: a child process (`node --max-old-space-size=32
 * jit.js config.json`) with its config and token file, reaching a Docker API, a DNS server and the
 * apps' tasks over real sockets. Here those are testbed.ts's: a fake Docker Engine API (GET
 * /services/<name>, POST /services/<name>/update, GET /tasks, recording every call and any change
 * beyond the replicas), a DNS server for tasks.<service> (the helper's `dnsServer` option, which
 * only tests set), and real HTTP backends that scaling starts and stops.
 *
 * What this does not cover (the lab tests do): real Swarm scheduling and placement, image pulls,
 * the engine's own timing and its task states beyond starting/running, Swarm's embedded DNS and
 * overlay addresses (here every task is 127.0.0.1 on its own port), the socket proxy's filter,
 * Traefik in front, and Node 18 itself (this runs the machine's Node unless JIT_TEST_NODE names
 * another binary, e.g. an official 18.20.4).
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { FakeSwarm, Jit, MIB, TOKEN, echo, freePort, send, sleep, until } from "./testbed";

const VAULT = "vaultwarden_vaultwarden";
const MEALIE = "mealie_mealie";
const FORGEJO = "forgejo_forgejo";
const MINIO = "minio_minio";
const NODE = "swarm-manager-2";
const JSON_ACCEPT = { accept: "application/json" };
const BROWSER = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };

let dir: string;
let swarm: FakeSwarm;
let jits: Jit[] = [];
let sockets: net.Socket[] = [];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "jit-test-"));
  swarm = new FakeSwarm();
  await swarm.start();
});

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets = [];
  await Promise.all(jits.map((j) => j.stop()));
  jits = [];
  await swarm.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  /** Replicas each Swarm service has when the helper starts (default 0: asleep). */
  replicas?: Record<string, number>;
  startDelayMs?: number;
  idleSeconds?: number;
  budgetBytes?: number;
  holdSeconds?: number;
}

/** The seed's four apps in the fake swarm, and the helper's config for them (64 MiB each, one node). */
async function setup(s: Setup = {}): Promise<object> {
  const ports: Record<string, number> = {};
  for (const name of [VAULT, MEALIE, FORGEJO, MINIO]) {
    ports[name] = await freePort();
    await swarm.add(name, ports[name], { replicas: s.replicas?.[name] ?? 0, startDelayMs: s.startDelayMs ?? 300, taskDelayMs: 100 });
  }
  const common = { idleSeconds: s.idleSeconds ?? 60, reservationBytes: 64 * MIB, node: NODE };
  return {
    listen: 0,
    metricsListen: 0,
    dockerApi: `http://127.0.0.1:${swarm.dockerPort}`,
    dnsServer: `127.0.0.1:${swarm.dnsPort}`,
    apiHost: "jit.home.arpa",
    holdSeconds: s.holdSeconds ?? 5,
    readySeconds: 5,
    checkSeconds: 0.2,
    services: [
      { name: "vaultwarden/vaultwarden", swarmService: VAULT, host: "vault.home.arpa", port: ports[VAULT], replicas: 1, probePath: "/alive", ...common },
      { name: "mealie/mealie", swarmService: MEALIE, routes: [{ host: "recipes.home.arpa", port: ports[MEALIE] }], ...common },
      { name: "forgejo/forgejo", swarmService: FORGEJO, host: "git.home.arpa", port: ports[FORGEJO], ...common },
      { name: "minio/minio", swarmService: MINIO, routes: [{ host: "s3.home.arpa", port: ports[MINIO] }, { host: "minio.home.arpa", port: ports[MINIO] }], ...common },
    ],
    nodes: [{ name: NODE, jitBudgetBytes: s.budgetBytes ?? 1024 * MIB }],
  };
}

async function start(config: object): Promise<Jit> {
  const jit = await Jit.start(dir, config);
  jits.push(jit);
  return jit;
}

async function upgrade(jit: Jit, host: string) {
  const up = await jit.upgrade(host);
  sockets.push(up.socket);
  return up;
}

const stateOf = async (jit: Jit, name: string) => (await jit.status()).services.find((s) => s.name === name);

/** The value of one sample in Prometheus text, e.g. sample(text, 'jit_wakes_total{service="x"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("waking", () => {
  test("a cold start holds an API client's request and serves it once the app answers; the spec is sent back unchanged but for the replicas", async () => {
    const jit = await start(await setup({ startDelayMs: 400 }));
    expect(swarm.updates()).toEqual([]);

    const reply = await jit.request("vault.home.arpa", "/api/sync?x=1", { headers: { ...JSON_ACCEPT, "x-forwarded-for": "192.168.1.20" } });
    expect(reply.status).toBe(200);
    expect(reply.ms).toBeGreaterThanOrEqual(400);
    const seen = JSON.parse(reply.body);
    expect(seen).toMatchObject({ backend: VAULT, url: "/api/sync?x=1" });
    expect(seen.headers).toMatchObject({ host: "vault.home.arpa", "x-forwarded-for": "192.168.1.20, 127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": "vault.home.arpa" });
    expect(reply.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    const hop = await jit.request("vault.home.arpa", "/hop", { headers: { connection: "x-req-hop", "x-req-hop": "1", "x-kept": "1" } });
    expect(hop.headers).toMatchObject({ "x-end": "1" });
    expect(hop.headers["x-hop"]).toBeUndefined();
    expect(JSON.parse(hop.body).headers["x-req-hop"]).toBeUndefined();
    expect(JSON.parse(hop.body).headers["x-kept"]).toBe("1");

    expect(swarm.updates()).toEqual([{ name: VAULT, replicas: 1, at: expect.any(Number) }]);
    expect(swarm.specViolations).toEqual([]);
    const again = await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(again.status).toBe(200);
    expect(swarm.updates()).toHaveLength(1);
    expect(await stateOf(jit, "vaultwarden/vaultwarden")).toMatchObject({ state: "awake", replicas: 1, node: NODE });
  });

  test("a browser gets the splash page at once, and its ready endpoint turns true when the app answers", async () => {
    const jit = await start(await setup({ startDelayMs: 500 }));
    const page = await jit.request("recipes.home.arpa", "/", { headers: BROWSER });
    expect(page.status).toBe(503);
    expect(page.ms).toBeLessThan(300);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["retry-after"]).toBeDefined();
    expect(page.body).toContain("Starting mealie/mealie");
    expect(page.body).toContain("location.reload()");
    // No external assets: nothing loaded from anywhere but the page itself and its own host.
    expect(page.body).not.toMatch(/\b(src|href)\s*=|url\(|@import|https?:\/\//);
    const ready = /fetch\("(\/__jit\/ready\?attempt=\d+)"/.exec(page.body)![1];

    const first = JSON.parse((await jit.request("recipes.home.arpa", ready)).body);
    expect(first).toMatchObject({ ready: false, state: "waking" });
    await until("ready", async () => JSON.parse((await jit.request("recipes.home.arpa", ready)).body).ready);
    const app = await jit.request("recipes.home.arpa", "/", { headers: BROWSER });
    expect(app.status).toBe(200);
    expect(JSON.parse(app.body).backend).toBe(MEALIE);
    expect(swarm.updates(MEALIE)).toHaveLength(1);
  });

  test("50 concurrent first requests make exactly one scale-up, and all 50 are served", async () => {
    const jit = await start(await setup({ startDelayMs: 300 }));
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => jit.request("git.home.arpa", `/repo/${i}`, { headers: JSON_ACCEPT })));
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(replies.map((r) => JSON.parse(r.body).url)).toEqual(Array.from({ length: 50 }, (_, i) => `/repo/${i}`));
    expect(swarm.updates()).toEqual([{ name: FORGEJO, replicas: 1, at: expect.any(Number) }]);
    const text = await jit.metrics();
    expect(sample(text, 'jit_requests_held_total{service="forgejo/forgejo"}')).toBe(50);
    expect(sample(text, 'jit_requests_held{service="forgejo/forgejo"}')).toBe(0);
    expect(sample(text, 'jit_wakes_total{service="forgejo/forgejo"}')).toBe(1);
  });

  test("a request body is streamed through after the wake; a backend that resets gets 502, and a second route of one service reaches it too", async () => {
    const jit = await start(await setup({ startDelayMs: 100 }));
    const post = await jit.request("s3.home.arpa", "/bucket/key", { method: "POST", headers: { "content-type": "text/plain", "transfer-encoding": "chunked" }, body: "hello body" });
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body)).toMatchObject({ backend: MINIO, method: "POST", body: "hello body" });
    expect((await jit.request("minio.home.arpa", "/")).status).toBe(200);
    expect((await jit.request("minio.home.arpa", "/reset")).status).toBe(502);
    expect(swarm.updates()).toHaveLength(1);
  });

  test("a Docker API connection closed while kept alive (the socket proxy's idle timeout) does not fail the wake", async () => {
    const jit = await start({ ...(await setup({ startDelayMs: 50 })), checkSeconds: 30 });
    swarm.dropReused = 1;
    expect((await jit.request("git.home.arpa", "/", { headers: JSON_ACCEPT })).status).toBe(200);
    expect(swarm.dropReused).toBe(0);
    expect(swarm.updates()).toEqual([{ name: FORGEJO, replicas: 1, at: expect.any(Number) }]);
  });

  test("holdSeconds passes before the app answers: 503 with Retry-After; the wake goes on and a later request is served", async () => {
    const jit = await start(await setup({ startDelayMs: 1000, holdSeconds: 0.3 }));
    const held = await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(held.status).toBe(503);
    expect(Number(held.headers["retry-after"])).toBeGreaterThan(0);
    expect(held.body).toMatch(/still starting/);
    await until("awake", async () => (await stateOf(jit, "vaultwarden/vaultwarden")).state === "awake");
    expect((await jit.request("vault.home.arpa", "/")).status).toBe(200);
    expect(swarm.updates()).toHaveLength(1);
  });
});

describe("idleness", () => {
  test("no request for idleSeconds: scaled to 0, and the next request wakes it again", async () => {
    const jit = await start(await setup({ startDelayMs: 50, idleSeconds: 0.6 }));
    expect((await jit.request("git.home.arpa", "/")).status).toBe(200);
    const lastRequest = Date.now();
    await until("idle stop", () => swarm.updates(FORGEJO).length === 2, 4000);
    const [, down] = swarm.updates(FORGEJO);
    expect(down.replicas).toBe(0);
    expect(down.at - lastRequest).toBeGreaterThanOrEqual(600);
    expect(swarm.specViolations).toEqual([]);
    // The update has reached the Docker API; its answer may still be on the way to the helper.
    await until("asleep", async () => (await stateOf(jit, "forgejo/forgejo")).state === "asleep");
    expect(await stateOf(jit, "forgejo/forgejo")).toMatchObject({ state: "asleep", replicas: 0 });
    expect(sample(await jit.metrics(), 'jit_stops_total{service="forgejo/forgejo",reason="idle"}')).toBe(1);
    expect((await jit.request("git.home.arpa", "/")).status).toBe(200);
    expect(swarm.updates(FORGEJO).map((u) => u.replicas)).toEqual([1, 0, 1]);
  });

  test("an open upgraded connection keeps the service awake past idleSeconds; it sleeps once the connection closes", async () => {
    const jit = await start(await setup({ startDelayMs: 100, idleSeconds: 0.6 }));
    const { socket, head } = await upgrade(jit, "vault.home.arpa");
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).toMatch(/X-Backend: vaultwarden_vaultwarden/);
    expect(await echo(socket, "ping")).toBe("ping");
    await sleep(1500);
    expect(swarm.updates(VAULT).map((u) => u.replicas)).toEqual([1]);
    expect(await stateOf(jit, "vaultwarden/vaultwarden")).toMatchObject({ state: "awake", openConnections: 1 });
    expect(await echo(socket, "still there")).toBe("still there");
    socket.destroy();
    await until("idle stop", () => swarm.updates(VAULT).length === 2, 4000);
    expect(swarm.updates(VAULT).map((u) => u.replicas)).toEqual([1, 0]);
  });

  test("a long download streams (first bytes long before the last) and keeps the service awake while it lasts", async () => {
    const jit = await start(await setup({ startDelayMs: 50, idleSeconds: 0.6, replicas: { [MEALIE]: 1 } }));
    const started = Date.now();
    const firstChunkAt = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(jit.port, "127.0.0.1");
      sockets.push(socket);
      socket.write("GET /stream?n=10&ms=150 HTTP/1.1\r\nHost: recipes.home.arpa\r\n\r\n");
      socket.once("data", () => resolve(Date.now() - started));
      socket.on("error", reject);
    });
    expect(firstChunkAt).toBeLessThan(500);
    await sleep(1200);
    expect(swarm.updates(MEALIE)).toEqual([]);
    await until("idle stop after the download", () => swarm.updates(MEALIE).length === 1, 4000);
  });

  test("a service started outside the helper (a deploy, a scale by hand) is found awake and still put to sleep when idle", async () => {
    const jit = await start(await setup({ startDelayMs: 50, idleSeconds: 0.6 }));
    swarm.scale(MINIO, 1);
    await until("found awake", async () => (await stateOf(jit, "minio/minio")).state === "awake", 3000);
    await jit.waitLog(/event=found-awake service=minio\/minio/);
    await until("idle stop", () => swarm.updates(MINIO).length === 1, 3000);
    expect(swarm.updates(MINIO)[0].replicas).toBe(0);
    expect(swarm.specViolations).toEqual([]);
  });

  test("a request that comes while the service is being stopped is held, and wakes it again", async () => {
    const jit = await start(await setup({ startDelayMs: 100, idleSeconds: 0.3 }));
    expect((await jit.request("vault.home.arpa", "/")).status).toBe(200);
    swarm.updateDelayMs = 300;
    // The scale-down has reached the Docker API and is not answered yet.
    await until("stopping", async () => swarm.updates(VAULT).length === 2, 3000);
    expect((await stateOf(jit, "vaultwarden/vaultwarden")).state).toBe("stopping");
    const again = await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(again.status).toBe(200);
    expect(swarm.updates(VAULT).map((u) => u.replicas)).toEqual([1, 0, 1]);
  });
});

describe("memory-aware waking", () => {
  test("a node whose budget is full: the least recently used idle service there is stopped first", async () => {
    const jit = await start(await setup({ startDelayMs: 50, budgetBytes: 160 * MIB }));
    expect((await jit.request("vault.home.arpa", "/")).status).toBe(200);
    await sleep(20);
    expect((await jit.request("git.home.arpa", "/")).status).toBe(200);
    expect((await jit.request("recipes.home.arpa", "/")).status).toBe(200);

    expect(swarm.updates().map((u) => [u.name, u.replicas])).toEqual([
      [VAULT, 1],
      [FORGEJO, 1],
      [VAULT, 0],
      [MEALIE, 1],
    ]);
    const text = await jit.metrics();
    expect(sample(text, 'jit_evictions_total{service="vaultwarden/vaultwarden"}')).toBe(1);
    expect(sample(text, 'jit_stops_total{service="vaultwarden/vaultwarden",reason="eviction"}')).toBe(1);
    expect((await jit.status()).nodes).toEqual([{ name: NODE, jitBudgetBytes: 160 * MIB, reservedBytes: 128 * MIB }]);
  });

  test("nothing can be stopped (every awake service is in use): 503 with Retry-After naming the node and the memory, and the splash says so", async () => {
    const jit = await start(await setup({ startDelayMs: 50, budgetBytes: 100 * MIB }));
    const { socket } = await upgrade(jit, "vault.home.arpa");
    expect(await echo(socket, "in use")).toBe("in use");

    const refused = await jit.request("git.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(refused.body).toMatch(/Not enough memory on swarm-manager-2 to start forgejo\/forgejo: it needs 64 MiB.*64 MiB of the 100 MiB.*vaultwarden\/vaultwarden \(64 MiB, 1 open connection/);

    const page = await jit.request("git.home.arpa", "/", { headers: BROWSER });
    const ready = /fetch\("(\/__jit\/ready\?attempt=\d+)"/.exec(page.body)![1];
    const answer = await until("error", async () => JSON.parse((await jit.request("git.home.arpa", ready)).body).error as string);
    expect(answer).toMatch(/Not enough memory on swarm-manager-2/);
    expect(swarm.updates().map((u) => [u.name, u.replicas])).toEqual([[VAULT, 1]]);
    expect(await echo(socket, "still in use")).toBe("still in use");
  });
});

describe("API", () => {
  test("a token is required and compared; only configured names; 405 for other methods; only on apiHost", async () => {
    const jit = await start(await setup({ startDelayMs: 50 }));
    expect((await jit.api("GET", "/api/status", null)).status).toBe(401);
    expect((await jit.api("GET", "/api/status", "wrong-token-0123456789")).status).toBe(401);
    expect((await jit.api("GET", "/api/status", `${TOKEN}x`)).status).toBe(401);
    const status = await jit.api("GET", "/api/status");
    expect(status.status).toBe(200);
    const body = JSON.parse(status.body);
    expect(body.services.map((s: any) => [s.name, s.state, s.replicas, s.openConnections, s.node])).toEqual([
      ["vaultwarden/vaultwarden", "asleep", 0, 0, NODE],
      ["mealie/mealie", "asleep", 0, 0, NODE],
      ["forgejo/forgejo", "asleep", 0, 0, NODE],
      ["minio/minio", "asleep", 0, 0, NODE],
    ]);
    expect(new Date(body.services[0].lastActivity).toISOString()).toBe(body.services[0].lastActivity);

    expect((await jit.api("POST", "/api/wake/portainer%2Fportainer")).status).toBe(404);
    expect((await jit.api("POST", "/api/wake/nginx")).status).toBe(404);
    expect((await jit.api("POST", "/api/wake/%E0%A4%A")).status).toBe(400);
    expect((await jit.api("GET", "/api/wake/mealie%2Fmealie")).status).toBe(405);
    expect((await jit.api("POST", "/api/status")).status).toBe(405);
    expect((await jit.api("POST", "/api/wake/portainer%2Fportainer", null)).status).toBe(401);
    expect(swarm.calls.filter((c) => c.method === "POST")).toEqual([]);

    expect((await jit.api("POST", "/api/wake/mealie%2Fmealie")).status).toBe(202);
    await until("awake", async () => (await stateOf(jit, "mealie/mealie")).state === "awake");
    expect((await jit.api("POST", "/api/wake/mealie/mealie")).status).toBe(200);
    expect(swarm.updates()).toEqual([{ name: MEALIE, replicas: 1, at: expect.any(Number) }]);

    // The API is the helper's only on its own host: on an app's host the path is the app's.
    const onApp = await jit.request("recipes.home.arpa", "/api/status", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(JSON.parse(onApp.body).backend).toBe(MEALIE);
    expect((await jit.request("unknown.home.arpa", "/api/status")).status).toBe(404);
    expect((await jit.request("127.0.0.1:8080", "/healthz")).status).toBe(200);
    expect((await jit.request("jit.home.arpa", "/healthz")).status).toBe(200);
    expect(jit.logs.join("\n")).not.toContain(TOKEN);
  });

  test("stopping a service in use is refused with 409 unless ?force=true", async () => {
    const jit = await start(await setup({ startDelayMs: 50, replicas: { [VAULT]: 1 } }));
    const { socket } = await upgrade(jit, "vault.home.arpa");
    expect(await echo(socket, "x")).toBe("x");
    const refused = await jit.api("POST", "/api/stop/vaultwarden%2Fvaultwarden");
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body).error).toMatch(/in use \(1 open connection/);
    expect(swarm.updates()).toEqual([]);
    const forced = await jit.api("POST", "/api/stop/vaultwarden%2Fvaultwarden?force=true");
    expect(forced.status).toBe(200);
    expect(JSON.parse(forced.body).state).toBe("asleep");
    expect(swarm.updates()).toEqual([{ name: VAULT, replicas: 0, at: expect.any(Number) }]);
    expect(sample(await jit.metrics(), 'jit_stops_total{service="vaultwarden/vaultwarden",reason="api"}')).toBe(1);
  });

  test("a hold (the backup agent's) keeps a sleeping service asleep: wakes get 503 with Retry-After until it is released; an awake one cannot be held", async () => {
    const jit = await start(await setup({ startDelayMs: 50, replicas: { [MEALIE]: 1 } }));
    expect((await jit.api("POST", "/api/hold/vaultwarden%2Fvaultwarden")).status).toBe(400);
    expect((await jit.api("POST", "/api/hold/vaultwarden%2Fvaultwarden?seconds=0")).status).toBe(400);
    expect((await jit.api("POST", "/api/hold/vaultwarden%2Fvaultwarden?seconds=99999")).status).toBe(400);
    expect((await jit.api("GET", "/api/hold/vaultwarden%2Fvaultwarden?seconds=60")).status).toBe(405);
    const held = await jit.api("POST", "/api/hold/vaultwarden%2Fvaultwarden?seconds=60");
    expect(held.status).toBe(200);
    expect(Date.parse(JSON.parse(held.body).heldUntil) - Date.now()).toBeGreaterThan(55_000);

    const refused = await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(55);
    expect(refused.body).toMatch(/being backed up or restored/);
    expect((await jit.api("POST", "/api/wake/vaultwarden%2Fvaultwarden")).status).toBe(503);
    expect(swarm.updates()).toEqual([]);

    // Mealie is awake: holding it is refused, and nothing changes.
    await until("mealie seen awake", async () => (await stateOf(jit, "mealie/mealie"))?.state === "awake");
    const busy = await jit.api("POST", "/api/hold/mealie%2Fmealie?seconds=60");
    expect(busy.status).toBe(409);
    expect(JSON.parse(busy.body).error).toMatch(/not asleep/);

    expect((await jit.api("POST", "/api/release/vaultwarden%2Fvaultwarden")).status).toBe(200);
    expect((await stateOf(jit, "vaultwarden/vaultwarden"))?.heldUntil).toBeUndefined();
    const served = await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(served.status).toBe(200);
    expect(swarm.updates()).toEqual([{ name: VAULT, replicas: 1, at: expect.any(Number) }]);
  });

  test("a keep-awake lease (the backup agent's, for its repository) wakes a sleeping service, keeps it past idleSeconds, and idleness counts from its release", async () => {
    const jit = await start(await setup({ startDelayMs: 200, idleSeconds: 0.4 }));
    for (const bad of ["", "?seconds=0", "?seconds=21601", "?seconds=x"]) expect((await jit.api("POST", `/api/keepawake/minio%2Fminio${bad}`)).status).toBe(400);
    expect((await jit.api("GET", "/api/keepawake/minio%2Fminio?seconds=60")).status).toBe(405);
    expect((await jit.api("POST", "/api/keepawake/nope%2Fnope?seconds=60")).status).toBe(404);
    expect((await jit.api("POST", "/api/keepawake/minio%2Fminio?seconds=60", null)).status).toBe(401);
    expect(swarm.updates()).toEqual([]);

    // Asleep: woken as by /api/wake (202 once Swarm has the update), then awake.
    const waking = await jit.api("POST", "/api/keepawake/minio%2Fminio?seconds=60");
    expect(waking.status).toBe(202);
    expect(Date.parse(JSON.parse(waking.body).awakeUntil) - Date.now()).toBeGreaterThan(55_000);
    expect(swarm.updates()).toEqual([{ name: MINIO, replicas: 1, at: expect.any(Number) }]);
    await until("awake", async () => (await stateOf(jit, "minio/minio")).state === "awake");
    // Awake: 200 at once, the lease renewed.
    const again = await jit.api("POST", "/api/keepawake/minio/minio?seconds=120");
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({ state: "awake" });
    expect(Date.parse(JSON.parse(again.body).awakeUntil) - Date.now()).toBeGreaterThan(115_000);

    // No request for more than idleSeconds: still awake; a plain stop is refused, a hold too.
    await sleep(1000);
    expect(swarm.updates(MINIO)).toHaveLength(1);
    const stop = await jit.api("POST", "/api/stop/minio%2Fminio");
    expect(stop.status).toBe(409);
    expect(JSON.parse(stop.body).error).toMatch(/kept awake until/);
    expect((await jit.api("POST", "/api/hold/minio%2Fminio?seconds=60")).status).toBe(409);

    const released = Date.now();
    expect((await jit.api("POST", "/api/release/minio%2Fminio")).status).toBe(200);
    expect((await stateOf(jit, "minio/minio")).awakeUntil).toBeUndefined();
    await until("idle stop", () => swarm.updates(MINIO).length === 2, 4000);
    expect(swarm.updates(MINIO)[1]).toMatchObject({ replicas: 0 });
    expect(swarm.updates(MINIO)[1].at - released).toBeGreaterThanOrEqual(400);
    expect(sample(await jit.metrics(), 'jit_stops_total{service="minio/minio",reason="idle"}')).toBe(1);
  });

  test("a service kept awake is never evicted (a wake that needs its memory fails and ends its own lease), and one held asleep cannot be kept awake", async () => {
    const jit = await start(await setup({ startDelayMs: 50, budgetBytes: 100 * MIB }));
    expect((await jit.api("POST", "/api/keepawake/minio%2Fminio?seconds=60")).status).toBe(202);
    await until("awake", async () => (await stateOf(jit, "minio/minio")).state === "awake");

    // Idle, no connection: evictable but for the lease.
    const refused = await jit.request("git.home.arpa", "/", { headers: JSON_ACCEPT });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/Not enough memory on swarm-manager-2 to start forgejo\/forgejo.*minio\/minio \(64 MiB, 0 open connection\(s\), kept awake until /);
    const other = await jit.api("POST", "/api/keepawake/mealie%2Fmealie?seconds=60");
    expect(other.status).toBe(503);
    expect(JSON.parse(other.body).error).toMatch(/Not enough memory/);
    expect((await stateOf(jit, "mealie/mealie")).awakeUntil).toBeUndefined();
    expect(swarm.updates().map((u) => [u.name, u.replicas])).toEqual([[MINIO, 1]]);

    // Released: the next wake may evict it.
    expect((await jit.api("POST", "/api/release/minio%2Fminio")).status).toBe(200);
    expect((await jit.request("git.home.arpa", "/", { headers: JSON_ACCEPT })).status).toBe(200);
    expect(swarm.updates().map((u) => [u.name, u.replicas])).toEqual([
      [MINIO, 1],
      [MINIO, 0],
      [FORGEJO, 1],
    ]);

    expect((await jit.api("POST", "/api/hold/vaultwarden%2Fvaultwarden?seconds=60")).status).toBe(200);
    const held = await jit.api("POST", "/api/keepawake/vaultwarden%2Fvaultwarden?seconds=60");
    expect(held.status).toBe(409);
    expect(JSON.parse(held.body).error).toMatch(/held asleep/);
    expect((await stateOf(jit, "vaultwarden/vaultwarden")).awakeUntil).toBeUndefined();
    expect(swarm.updates(VAULT)).toEqual([]);
  });
});

test("a restart of the helper rebuilds its state from the swarm and scales nothing", async () => {
  const config = await setup({ startDelayMs: 50, idleSeconds: 3 });
  const first = await start(config);
  expect((await first.request("vault.home.arpa", "/")).status).toBe(200);
  expect((await first.request("minio.home.arpa", "/")).status).toBe(200);
  await first.stop();
  const before = swarm.calls.length;

  const second = await start(config);
  const restartedAt = Date.now();
  const states = Object.fromEntries((await second.status()).services.map((s) => [s.name, s]));
  expect(states["vaultwarden/vaultwarden"]).toMatchObject({ state: "awake", replicas: 1, openConnections: 0 });
  expect(states["minio/minio"]).toMatchObject({ state: "awake", replicas: 1 });
  expect(states["mealie/mealie"]).toMatchObject({ state: "asleep", replicas: 0 });
  expect(Date.parse(states["vaultwarden/vaultwarden"].lastActivity)).toBeGreaterThanOrEqual(restartedAt - 1000);
  const served = await second.request("vault.home.arpa", "/", { headers: JSON_ACCEPT });
  expect(served.status).toBe(200);
  expect(served.ms).toBeLessThan(200);
  await sleep(700);
  expect(swarm.calls.slice(before).filter((c) => c.method !== "GET")).toEqual([]);
});

test("a bounded fuzz of malformed requests and bytes: 4xx (or 502/503 where meant), and the helper stays up", async () => {
  const jit = await start(await setup({ startDelayMs: 20, replicas: { [VAULT]: 1 } }));
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const hosts = ["vault.home.arpa", "jit.home.arpa", "", "[::1]:80", "VAULT.HOME.ARPA.", "a".repeat(300), "vault.home.arpa:99999", "x y", "%00", "unknown.example"];
  const paths = ["/", "/reset", "/api/status", "/api/wake/%E0%A4%A", "/api/stop/%", "/__jit/ready?attempt=abc", "*", "http://vault.home.arpa/", "/%%%", `/${"a".repeat(5000)}`];
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  // A backend that resets the connection: 502, whatever the retry.
  const cases: Buffer[] = Array.from({ length: 5 }, () => Buffer.from("GET /reset HTTP/1.1\r\nHost: vault.home.arpa\r\n\r\n"));
  for (let i = 0; i < 300; i++) {
    const kind = i % 10;
    const host = pick(hosts);
    const p = pick(paths);
    if (kind === 0) cases.push(bytes(1 + Math.floor(random() * 200)));
    else if (kind === 1) cases.push(Buffer.from(`${pick(["GET", "POST", "BREW", "G\x00T", ""])} ${p} ${pick(["HTTP/1.1", "HTTP/9.9", "HTTP/1.0", "FOO"])}\r\nHost: ${host}\r\n\r\n`));
    else if (kind === 2) cases.push(Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\n${auth}X-Big: ${"b".repeat(20000 + Math.floor(random() * 20000))}\r\n\r\n`));
    else if (kind === 3) cases.push(Buffer.from(`POST ${p} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100\r\n\r\nhalf`));
    else if (kind === 4) cases.push(Buffer.from(`GET ${p} HTTP/1.1\r\nHos`));
    else if (kind === 5) cases.push(Buffer.from(`POST ${p} HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`));
    else if (kind === 6) cases.push(Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: ${pick(["websocket", "h2c", "\x7f"])}\r\n\r\n`));
    else if (kind === 7) cases.push(Buffer.concat([Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\n${auth}`), bytes(50), Buffer.from("\r\n\r\n")]));
    else if (kind === 8) cases.push(Buffer.from(`POST ${pick(paths)} HTTP/1.1\r\nHost: jit.home.arpa\r\n${auth}Content-Length: -1\r\n\r\n`));
    else cases.push(Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\n${pick(["Accept: text/html", "Content-Length: abc", "X: \x01", auth])}\r\n\r\n`));
  }
  const statuses: number[] = [];
  const run = (payload: Buffer) =>
    new Promise<void>((resolve) => {
      const socket = net.connect(jit.port, "127.0.0.1");
      let got = "";
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
        if (m) statuses.push(Number(m[1]));
        resolve();
      };
      // Half-sent requests get no answer (the helper waits for the rest): give up on them soon.
      const timer = setTimeout(done, 500);
      socket.on("data", (c: Buffer) => {
        got += c.toString("latin1");
        if (/^HTTP\/1\.[01] \d{3}/.test(got)) done();
      });
      socket.on("error", done);
      socket.on("close", done);
      socket.write(payload, () => undefined);
    });
  for (let i = 0; i < cases.length; i += 50) await Promise.all(cases.slice(i, i + 50).map(run));

  expect(statuses.length).toBeGreaterThan(150);
  expect(statuses.filter((s) => s >= 500 && s !== 502 && s !== 503)).toEqual([]);
  expect(statuses).toContain(400);
  expect(statuses).toContain(431);
  expect(statuses).toContain(502);
  expect(jit.alive).toBe(true);
  expect((await jit.request("127.0.0.1", "/healthz")).status).toBe(200);
  expect((await jit.request("vault.home.arpa", "/")).status).toBe(200);
  expect(jit.logs.filter((l) => /uncaught|unhandled/.test(l))).toEqual([]);
  expect(jit.logs.join("\n")).not.toContain(TOKEN);
});

test("metrics: Prometheus text with the families asked for, and a cold start in the histogram", async () => {
  const jit = await start(await setup({ startDelayMs: 700 }));
  expect((await jit.request("vault.home.arpa", "/", { headers: JSON_ACCEPT })).status).toBe(200);
  const reply = await send(jit.metricsPort, "127.0.0.1", "/metrics", {});
  expect(reply.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = new Map<string, string>();
  for (const line of reply.body.trimEnd().split("\n")) {
    const type = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (type) families.set(type[1], type[2]);
    else if (!line.startsWith("# HELP ")) expect(line).toMatch(/^[a-z_]+(\{[a-z_]+="[^"\\\n]*"(,[a-z_]+="[^"\\\n]*")*\})? -?[0-9.e+-]+$/);
  }
  expect(Object.fromEntries(families)).toMatchObject({
    jit_wakes_total: "counter",
    jit_cold_start_seconds: "histogram",
    jit_services_awake: "gauge",
    jit_requests_held: "gauge",
    jit_requests_held_total: "counter",
    jit_evictions_total: "counter",
    jit_stops_total: "counter",
    process_resident_memory_bytes: "gauge",
  });
  const text = reply.body;
  const svc = 'service="vaultwarden/vaultwarden"';
  expect(sample(text, `jit_cold_start_seconds_count{${svc}}`)).toBe(1);
  expect(sample(text, `jit_cold_start_seconds_bucket{${svc},le="+Inf"}`)).toBe(1);
  expect(sample(text, `jit_cold_start_seconds_bucket{${svc},le="0.5"}`)).toBe(0);
  expect(sample(text, `jit_cold_start_seconds_bucket{${svc},le="5"}`)).toBe(1);
  expect(sample(text, `jit_cold_start_seconds_sum{${svc}}`)).toBeGreaterThan(0.7);
  expect(sample(text, "jit_services_awake")).toBe(1);
  expect(sample(text, `jit_stops_total{${svc},reason="idle"}`)).toBe(0);
  expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(10 * MIB);
});

test("at rest with four services (two awake) the helper stays within 48 MiB resident", async () => {
  const jit = await start({ ...(await setup({ replicas: { [VAULT]: 1, [MINIO]: 1 } })), checkSeconds: 10 });
  expect((await jit.request("vault.home.arpa", "/")).status).toBe(200);
  await sleep(1500);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${jit.proc.pid}/status`, "utf8"))![1]) * 1024;
  expect(rss).toBeLessThanOrEqual(48 * MIB);
});

test("--healthcheck asks the running helper's /healthz: exit 0 while it answers, 1 once it is gone", async () => {
  const jit = await start(await setup());
  const config = path.join(dir, "healthcheck.json");
  fs.writeFileSync(config, JSON.stringify({ listen: jit.port }));
  const check = () => spawnSync(process.env.JIT_TEST_NODE || process.execPath, [path.join(__dirname, "jit.js"), "--healthcheck", config], { timeout: 10000 }).status;
  expect(check()).toBe(0);
  await jit.stop();
  expect(check()).toBe(1);
});

test("a config with mistakes is refused at start, naming each key", async () => {
  const { code, stderr } = await Jit.refuse(dir, {
    apiHost: "jit.home.arpa",
    holdSecs: 3,
    services: [
      { name: "vaultwarden/vaultwarden", swarmService: "vaultwarden_vaultwarden", host: "vault.home.arpa", port: "80", node: "pi9" },
      { name: "vaultwarden/vaultwarden", swarmService: "x y", routes: [{ host: "jit.home.arpa" }] },
    ],
    nodes: [{ name: "swarm-manager-2", jitBudgetBytes: -1 }],
  });
  expect(code).toBe(2);
  expect(stderr).toContain("holdSecs: unknown key");
  expect(stderr).toContain('services[0].port: expected the port the app listens on in its task, got string "80"');
  expect(stderr).toContain('services[0].node: string "pi9" is not in nodes');
  expect(stderr).toContain('services[1].name: "vaultwarden/vaultwarden" is already used by services[0].name');
  expect(stderr).toContain("services[1].swarmService: expected the Swarm service");
  expect(stderr).toContain("services[1].routes[0].host: jit.home.arpa is the apiHost");
  expect(stderr).toContain("nodes[0].jitBudgetBytes: expected a whole number of bytes, got number -1");
});

/**
 * Not a check: JIT_MEASURE=1 prints the latency the helper adds over a direct hop, on keep-alive
 * connections (as Traefik keeps them), with the app in a process of its own. A bare 10-line Node
 * proxy, measured in the same interleaved runs, shows what Node's http alone costs on this machine.
 */
(process.env.JIT_MEASURE ? test : test.skip)("measure: proxy overhead over a direct hop", async () => {
  const node = process.env.JIT_TEST_NODE || process.execPath;
  const [appPort, barePort] = [await freePort(), await freePort()];
  const app = spawn(node, ["-e", `require("http").createServer((q, r) => r.end("ok")).listen(${appPort}, "127.0.0.1")`], { stdio: "ignore" });
  const bareProxy = `const http = require("http"); const agent = new http.Agent({ keepAlive: true });
    http.createServer((req, res) => {
      const p = http.request({ host: "127.0.0.1", port: ${appPort}, path: req.url, method: req.method, headers: req.headers, agent }, (r) => { res.writeHead(r.statusCode, r.rawHeaders); r.pipe(res); });
      req.pipe(p);
    }).listen(${barePort}, "127.0.0.1");`;
  const bare = spawn(node, ["--max-old-space-size=32", "-e", bareProxy], { stdio: "ignore" });
  try {
    const config: any = { ...(await setup({ replicas: { [VAULT]: 1 } })), checkSeconds: 10 };
    config.services[0].port = appPort;
    const jit = await start(config);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const once = (port: number) =>
      new Promise<number>((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        http
          .get({ host: "127.0.0.1", port, path: "/", agent, headers: { host: "vault.home.arpa" } }, (res) => {
            res.resume();
            res.on("end", () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
          })
          .on("error", reject);
      });
    const times: Record<"direct" | "helper" | "bare", number[]> = { direct: [], helper: [], bare: [] };
    for (let i = 0; i < 6000; i++) {
      const d = await once(appPort);
      const h = await once(jit.port);
      const b = await once(barePort);
      if (i >= 1000) times.direct.push(d), times.helper.push(h), times.bare.push(b);
    }
    agent.destroy();
    const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))];
    const row = (f: number) =>
      `p${f * 100}: direct ${q(times.direct, f).toFixed(3)} ms; helper +${(q(times.helper, f) - q(times.direct, f)).toFixed(3)} ms; bare Node proxy +${(q(times.bare, f) - q(times.direct, f)).toFixed(3)} ms`;
    process.stdout.write(`${[0.5, 0.9, 0.99, 0.999].map(row).join("\n")}\n`);
  } finally {
    app.kill();
    bare.kill();
  }
}, 90000);
