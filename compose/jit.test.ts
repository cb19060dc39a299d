import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { BudgetNode } from "./budget";
import { parse, validDoc } from "./fixtures";
import { JIT_PORT, jitBudgets, jitTargets, proxiedRoutes, renderJitConfig, renderJitSocketFilter } from "./jit";
import { JIT_LABEL, renderStack } from "./render";
import { StackSource } from "./types";

const MIB = 1024 * 1024;
const nodes: BudgetNode[] = [
  { name: "m1", role: "manager", labels: {}, memoryMiB: 2048 },
  { name: "w1", role: "worker", labels: { demo: "true" }, memoryMiB: 2048 },
];
const minutes = (idle: string) => Number(idle.replace("m", "")) * 60;

/** The demo stack: web (routed at app, pinned to w1, 32 MiB reserved) and, as asked, more. */
function demo(edit: (doc: Record<string, any>) => void = () => undefined): StackSource {
  const doc = validDoc();
  doc.services.web["x-homelab"] = { routes: [{ host: "app", port: 8080 }, { host: "admin", port: 8081, auth: true }] };
  doc.services.web.deploy.placement = { constraints: ["node.labels.demo == true"] };
  edit(doc);
  return parse(doc);
}

const names = (s: StackSource) => ({
  secrets: Object.fromEntries(s.secrets.map((x) => [x.key, `${s.name}_${x.key}-00000000`])),
  configs: Object.fromEntries(s.configs.map((x) => [x.key, `${s.name}_${x.key}-00000000`])),
});

describe("jitTargets", () => {
  test("a routed service pinned to one node: its hosts, port, replicas, idle time, reservation and node", () => {
    const { targets, problems } = jitTargets([demo()], [{ service: "demo/web", idle: "5m" }, { service: "other/x", idle: "1m" }], nodes, "home.arpa", minutes);
    expect(problems).toEqual([]);
    expect(targets).toEqual([
      {
        name: "demo/web",
        swarmService: "demo_web",
        routes: [{ host: "app.home.arpa", port: 8080 }, { host: "admin.home.arpa", port: 8081 }],
        replicas: 1,
        idleSeconds: 300,
        reservationBytes: 32 * MIB,
        node: "w1",
      },
    ]);
  });

  test("unpinned, unrouted or global: an error naming the config key and the fix", () => {
    const unpinned = jitTargets([demo((d) => delete d.services.web.deploy.placement)], [{ service: "demo/web", idle: "5m" }], nodes, "home.arpa", minutes);
    expect(unpinned.problems).toEqual([{ key: "homelab:platform.jit.demo/web", message: expect.stringMatching(/may run on 2 nodes \(m1, w1\).*Fix: pin it/) }]);
    const unrouted = jitTargets([demo((d) => delete d.services.web["x-homelab"])], [{ service: "demo/web", idle: "5m" }], nodes, "home.arpa", minutes);
    expect(unrouted.problems[0].message).toMatch(/has no x-homelab.route, so no request could wake it/);
    const global = jitTargets([demo((d) => (d.services.web.deploy.mode = "global"))], [{ service: "demo/web", idle: "5m" }], nodes, "home.arpa", minutes);
    expect(global.problems[0].message).toMatch(/is global.*'homelab:platform.jit.demo\/web' false/);
  });
});

test("each node's JIT budget is 75% of its RAM less the always-on reservations", () => {
  const stack = demo((d) => (d.services.agent = { image: "x/y:1", deploy: { mode: "global", resources: { limits: { memory: "200M" }, reservations: { memory: "100M" } } } }));
  expect(jitBudgets(nodes, [stack], new Set(["demo/web"]))).toEqual([
    { name: "m1", jitBudgetBytes: 0.75 * 2048 * MIB - 100 * MIB },
    { name: "w1", jitBudgetBytes: 0.75 * 2048 * MIB - 100 * MIB },
  ]);
});

test("the helper's config lists the services and the budgets of their nodes, and holds no secret", () => {
  const { targets } = jitTargets([demo()], [{ service: "demo/web", idle: "5m" }], nodes, "home.arpa", minutes);
  const config = JSON.parse(renderJitConfig(targets, [{ name: "m1", jitBudgetBytes: 1 }, { name: "w1", jitBudgetBytes: 2 }], "home.arpa"));
  expect(config).toMatchObject({ listen: JIT_PORT, apiHost: "jit.home.arpa", tokenFile: "/run/secrets/jit_token", nodes: [{ name: "w1", jitBudgetBytes: 2 }] });
  expect(config.services[0]).toMatchObject({ name: "demo/web", swarmService: "demo_web", node: "w1", routes: [{ host: "app.home.arpa", port: 8080 }, { host: "admin.home.arpa", port: 8081 }] });
});

test("the socket filter lets the helper read and update its services only, and haproxy accepts it", () => {
  const cfg = renderJitSocketFilter(["vaultwarden_vaultwarden", "minio_minio"]);
  expect(cfg).toContain("/services/(vaultwarden_vaultwarden|minio_minio)/update$");
  const haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => fs.existsSync(p));
  if (!haproxy) throw new Error("haproxy is not installed: bash lab/host-setup.sh (Debian's haproxy)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jit-filter-"));
  try {
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
    const check = spawnSync(haproxy, ["-c", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8" });
    expect({ code: check.status, out: `${check.stdout}${check.stderr}` }).toMatchObject({ code: 0 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("rendering", () => {
  const app = { ...demo(), jitServices: ["web"] };
  const { targets } = jitTargets([app], [{ service: "demo/web", idle: "5m" }], nodes, "home.arpa", minutes);

  test("a JIT service has no router of its own, keeps the swarm's replicas through a variable, and is marked", () => {
    const out = YAML.parse(renderStack(app, names(app), { domain: "home.arpa" }));
    const web = out.services.web;
    expect(Object.keys(web.deploy.labels).filter((l) => l.startsWith("traefik."))).toEqual([]);
    expect(web.deploy.labels[JIT_LABEL]).toBe("true");
    expect(web.deploy.replicas).toBe("${HOMELAB_JIT_REPLICAS_0:-0}");
    // Still on the routing network: the helper reaches its tasks there.
    expect(web.networks).toContain("traefik-public");
  });

  test("the helper's service gets a router per JIT host, to its own port, with the app's lane and login", () => {
    const helper = parse({
      services: { jit: { image: "node:18.20.4-bookworm-slim", deploy: { resources: { limits: { memory: "96M" }, reservations: { memory: "48M" } } } } },
    });
    const stack = { ...helper, name: "jit", proxiedRoutes: proxiedRoutes([app], targets) };
    const labels = YAML.parse(renderStack(stack, names(stack), { domain: "home.arpa" })).services.jit.deploy.labels;
    expect(labels["traefik.http.routers.jit-app.rule"]).toBe("Host(`app.home.arpa`)");
    expect(labels["traefik.http.services.jit-app.loadbalancer.server.port"]).toBe(String(JIT_PORT));
    expect(labels["traefik.http.routers.jit-admin.middlewares"]).toBe("lan-only@file,dashboard-auth@file");
  });

  // Docker's own loader interpolates the variable and casts it to a number (stack.sh exports it).
  test.each(["/usr/bin/docker", "/usr/local/bin/docker"].filter((p) => fs.existsSync(p)))("%s reads the replicas variable as a number", (cli) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jit-docker-"));
    try {
      const file = path.join(dir, "demo.yml");
      fs.writeFileSync(file, renderStack(app, names(app), { domain: "home.arpa" }));
      const run = spawnSync(cli, ["stack", "config", "-c", file], { encoding: "utf8", env: { ...process.env, HOMELAB_JIT_REPLICAS_0: "2" } });
      if (/unknown command|is not a docker command|unknown shorthand flag/.test(`${run.stderr}`)) {
        // 20.10 has no `stack config`: its deploy parses before dialling, as compose/stacks.test.ts does.
        const deploy = spawnSync(cli, ["stack", "deploy", "-c", file, "demo"], { encoding: "utf8", env: { ...process.env, HOMELAB_JIT_REPLICAS_0: "2", DOCKER_HOST: `unix://${path.join(dir, "none.sock")}` } });
        expect(`${deploy.stdout}${deploy.stderr}`).toMatch(/Cannot connect to the Docker daemon/);
        return;
      }
      expect(run.status).toBe(0);
      expect(YAML.parse(run.stdout).services.web.deploy.replicas).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
