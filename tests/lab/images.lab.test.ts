/**
 * The lab's service images (lab/images/): each is built (or reused), saved for the nodes to load,
 * and run on the HOST's dockerd only, on its default bridge. The lab nodes and the lab's own
 * network are not used here.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { run } from "../../lab/exec";
import { ensureHost } from "../../lab/host";
import { LAB_IMAGE_TAGS, LabImageName, ensureLabImage, ensureLabImages, labImageTags } from "../../lab/images";
import { seconds } from "./helpers";

const log = (l: string) => process.stderr.write(`[lab-images] ${l}\n`);
const tag = LAB_IMAGE_TAGS.traefik;

let tarball = "";

beforeAll(async () => {
  await ensureHost(log);
  const t0 = Date.now();
  tarball = await ensureLabImage("traefik", log);
  log(`traefik image ready in ${seconds(t0).toFixed(1)} s (a cold build takes ~7 min)`);
}, 40 * 60000);

/** The host port docker published for a container's port (published on 127.0.0.1 only). */
async function hostPort(container: string, port: number): Promise<number> {
  const out = (await run("docker", ["port", container, `${port}/tcp`])).stdout.trim().split("\n")[0];
  const m = out.match(/^127\.0\.0\.1:(\d+)$/);
  if (!m) throw new Error(`${container} ${port}/tcp is published as ${JSON.stringify(out)}, not on 127.0.0.1`);
  return Number(m[1]);
}

/** One HTTP exchange, with the answer's Content-Type. */
async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; type: string }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text(), type: r.headers.get("content-type") ?? "" };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const { status, body } = await request(url);
  return { status, body };
}

/** The tags a `docker save` tarball holds: what `docker load` in a node will name the image. */
async function savedTags(tarball: string): Promise<string[]> {
  const manifest = JSON.parse((await run("tar", ["-xOf", tarball, "manifest.json"])).stdout) as Array<{ RepoTags: string[] }>;
  return manifest.map((m) => m.RepoTags).flat();
}

async function imageConfig(image: string): Promise<{
  Entrypoint: string[];
  Cmd: string[] | null;
  User: string;
  WorkingDir: string;
  ExposedPorts: Record<string, object> | null;
  Volumes: Record<string, object> | null;
  Labels: Record<string, string>;
}> {
  return JSON.parse((await run("docker", ["image", "inspect", "--format", "{{json .Config}}", image])).stdout);
}

/** A second ensureLabImage is a cache hit: the same tarball, quickly, holding the image's tag. */
async function expectCached(name: LabImageName, tarball: string): Promise<void> {
  const t0 = Date.now();
  expect(await ensureLabImage(name, log)).toBe(tarball);
  expect(seconds(t0)).toBeLessThan(15);
  expect(await savedTags(tarball)).toEqual([LAB_IMAGE_TAGS[name]]);
}

/** Containers the new tests started, removed in afterAll whatever happened. */
const started: string[] = [];

afterAll(async () => {
  for (const name of started) await run("docker", ["rm", "-f", "-v", name], { allowFail: true });
});

/** Starts a detached container on the host dockerd's default bridge; returns its address there. */
async function runDetached(name: string, args: string[]): Promise<string> {
  started.push(name);
  await run("docker", ["run", "-d", "--rm", "--network", "bridge", "--name", name, "--label", "homelab.lab=image-test", ...args]);
  const ip = (await run("docker", ["inspect", "--format", "{{.NetworkSettings.IPAddress}}", name])).stdout.trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`${name} has no address on the default bridge: ${JSON.stringify(ip)}`);
  return ip;
}

/** Requests url until it answers at all (the server may still be starting), for up to 30 s. */
async function requestWhenUp(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; type: string }> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await request(url, init);
    } catch (err) {
      if (seconds(t0) > 30) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Requests url until it answers 200 (a server may say 503 while it starts), for up to 30 s. */
async function getWhen200(url: string): Promise<{ status: number; body: string }> {
  const t0 = Date.now();
  for (;;) {
    const r = await requestWhenUp(url);
    if (r.status === 200 || seconds(t0) > 30) return { status: r.status, body: r.body };
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Adds the container's last log lines to a failure, which otherwise says only what was expected. */
async function withLogs<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const logs = await run("docker", ["logs", "--tail", "40", name], { allowFail: true });
    throw new Error(`${String(err)}\ncontainer logs:\n${logs.stdout}${logs.stderr}`);
  }
}

describe("traefik:v3.7.13 (built from source)", () => {
  test("a second run is cached and gives the same tarball, which holds the tag", async () => {
    const t0 = Date.now();
    expect(await ensureLabImage("traefik", log)).toBe(tarball);
    expect(seconds(t0)).toBeLessThan(15);
    expect(fs.statSync(tarball).size).toBeGreaterThan(100 * 2 ** 20);
    expect(await savedTags(tarball)).toEqual([tag]);
  });

  test("the image: entrypoint traefik, a lab label, the host's CA bundle", async () => {
    const cfg = JSON.parse((await run("docker", ["image", "inspect", "--format", "{{json .Config}}", tag])).stdout) as {
      Entrypoint: string[];
      Labels: Record<string, string>;
    };
    expect(cfg.Entrypoint).toEqual(["traefik"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of Traefik v3.7.13 from source; not the official image",
    );
    // No shell in the image: copy the files out of a created (never started) container.
    const name = `homelab-image-test-files-${process.pid}`;
    await run("docker", ["create", "--name", name, tag]);
    try {
      const ca = await run("docker", ["cp", `${name}:/etc/ssl/certs/ca-certificates.crt`, "-"]);
      expect(ca.stdout).toContain(fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8"));
      const bin = await run("docker", ["cp", `${name}:/usr/local/bin/traefik`, "-"], { allowFail: true });
      expect(bin.code).toBe(0);
    } finally {
      await run("docker", ["rm", "-f", "-v", name], { allowFail: true }); // -v: the image declares VOLUME /tmp
    }
  });

  test("`docker run --rm traefik:v3.7.13 version` prints v3.7.13", async () => {
    const r = await run("docker", ["run", "--rm", tag, "version"], { timeoutMs: 60000 });
    expect(r.stdout).toMatch(/^Version:\s+v3\.7\.13$/m);
  });

  test("a running container answers /ping and /api/version; the web UI is not built", async () => {
    const name = `homelab-image-test-traefik-${process.pid}`;
    // Ping and the insecure API live on the internal entrypoint `traefik` (:8080). It is made
    // only when no entrypoint of that name exists, and a second entrypoint on :8080 (say `web`)
    // makes Traefik exit with "address already in use": so web listens on :80.
    await run("docker", [
      "run", "-d", "--name", name, "--label", "homelab.lab=image-test",
      "-p", "127.0.0.1::8080", "-p", "127.0.0.1::80",
      tag, "--ping=true", "--api.insecure=true", "--entrypoints.web.address=:80",
    ]);
    try {
      const api = `http://127.0.0.1:${await hostPort(name, 8080)}`;
      const web = `http://127.0.0.1:${await hostPort(name, 80)}`;
      let ping = { status: 0, body: "" };
      const t0 = Date.now();
      while (seconds(t0) < 30) {
        ping = await get(`${api}/ping`).catch(() => ping);
        if (ping.status === 200) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(ping).toEqual({ status: 200, body: "OK" });

      const version = await get(`${api}/api/version`);
      expect(version.status).toBe(200);
      expect(JSON.parse(version.body)).toMatchObject({ Version: "v3.7.13", Codename: "cheddar" });
      expect((await get(`${api}/api/rawdata`)).status).toBe(200);
      // No router on web: Traefik's own 404 there.
      expect((await get(`${web}/`)).status).toBe(404);
      // Known gap (docs/lab.md): the dashboard's files are not in the Go module, only a placeholder.
      expect((await get(`${api}/dashboard/`)).status).toBe(500);
    } catch (err) {
      const logs = await run("docker", ["logs", "--tail", "40", name], { allowFail: true });
      throw new Error(`${String(err)}\ncontainer logs:\n${logs.stdout}${logs.stderr}`);
    } finally {
      await run("docker", ["rm", "-f", "-v", name], { allowFail: true }); // -v: the image declares VOLUME /tmp
    }
  });
});

describe("traefik/whoami:v1.10.3 (the lab's STAND-IN, lab/images/whoami)", () => {
  const tag = LAB_IMAGE_TAGS.whoami;
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("whoami", log);
    log(`whoami image ready in ${seconds(t0).toFixed(1)} s`);
  }, 10 * 60000);

  test("cached on a second run; the tarball holds the tag; /whoami is the entrypoint, labelled a stand-in", async () => {
    await expectCached("whoami", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/whoami"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab STAND-IN for traefik/whoami v1.10.3 (not the real software)",
    );
  });

  test("a running container answers / with its hostname, addresses and the request, /health and /api", async () => {
    const name = `homelab-image-test-whoami-${process.pid}`;
    const ip = await runDetached(name, [tag]);
    await withLogs(name, async () => {
      const hostname = (await run("docker", ["inspect", "--format", "{{.Config.Hostname}}", name])).stdout.trim();
      const root = await requestWhenUp(`http://${ip}/`, { headers: { "X-Homelab-Test": "whoami-header" } });
      expect(root.status).toBe(200);
      expect(root.type).toMatch(/^text\/plain/);
      const lines = root.body.split(/\r?\n/);
      expect(lines[0]).toBe(`Hostname: ${hostname}`);
      expect(lines).toContain(`IP: ${ip}`);
      expect(lines).toContain("GET / HTTP/1.1");
      expect(lines).toContain(`Host: ${ip}`);
      expect(lines).toContain("X-Homelab-Test: whoami-header");
      expect(lines.find((l) => l.startsWith("RemoteAddr: "))).toMatch(/^RemoteAddr: \d+\.\d+\.\d+\.\d+:\d+$/);

      expect((await get(`http://${ip}/health`)).status).toBe(200);
      const api = await request(`http://${ip}/api?from=test`);
      expect(api.type).toBe("application/json");
      expect(JSON.parse(api.body)).toMatchObject({ hostname, host: ip, method: "GET", url: "/api?from=test" });
    });
  });

  test("WHOAMI_PORT_NUMBER moves the port, as with the real image", async () => {
    const name = `homelab-image-test-whoami-port-${process.pid}`;
    const ip = await runDetached(name, ["-e", "WHOAMI_PORT_NUMBER=8081", tag]);
    await withLogs(name, async () => {
      expect((await requestWhenUp(`http://${ip}:8081/health`)).status).toBe(200);
    });
  });
});

describe("haproxy:2.6.12 (Debian's package, lab/images/haproxy)", () => {
  const tag = LAB_IMAGE_TAGS.haproxy;
  let tarball = "";
  let dir = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("haproxy", log);
    log(`haproxy image ready in ${seconds(t0).toFixed(1)} s`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-haproxy-test-"));
  }, 10 * 60000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("cached on a second run; the tarball holds the tag; entrypoint and command as documented", async () => {
    await expectCached("haproxy", tarball);
    const cfg = await imageConfig(tag);
    // The official image's entrypoint script adds -W -db in front of a command of flags.
    expect(cfg.Entrypoint).toEqual(["/usr/sbin/haproxy", "-W", "-db"]);
    expect(cfg.Cmd).toEqual(["-f", "/usr/local/etc/haproxy/haproxy.cfg"]);
    expect(cfg.User).toBe("haproxy");
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of haproxy 2.6.12 from Debian's package; not the official image",
    );
    const v = await run("docker", ["run", "--rm", tag, "-v"], { timeoutMs: 60000 });
    expect(v.stdout).toMatch(/^HAProxy version 2\.6\.12-/);
  });

  test("accepts stacks/traefik/haproxy.cfg, the socket-proxy's config (haproxy -c)", async () => {
    const cfg = path.join(__dirname, "..", "..", "stacks", "traefik", "haproxy.cfg");
    const r = await run("docker", ["run", "--rm", "-v", `${cfg}:/usr/local/etc/haproxy/haproxy.cfg:ro`, tag, "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg"], {
      allowFail: true,
      timeoutMs: 60000,
    });
    expect({ code: r.code, out: (r.stdout + r.stderr).trim() }).toEqual({ code: 0, out: "Configuration file is valid" });
  });

  test("as a docker-socket filter: GET /version passes, writes and listings are 403", async () => {
    // The shape of a socket proxy in a compose file: the config bind-mounted where the default
    // command reads it, the host's socket mounted in, root to open it.
    const cfg = path.join(dir, "haproxy.cfg");
    fs.writeFileSync(
      cfg,
      [
        "global",
        "  log stdout format raw local0",
        "defaults",
        "  mode http",
        "  log global",
        "  option httplog",
        "  timeout connect 5s",
        "  timeout client 30s",
        "  timeout server 30s",
        "frontend docker",
        "  bind :2375",
        "  http-request deny unless { method GET HEAD } { path_reg ^(/v[0-9.]+)?/(_ping|version)$ }",
        "  default_backend dockerd",
        "backend dockerd",
        "  server dockerd /var/run/docker.sock",
        "",
      ].join("\n"),
      { mode: 0o644 },
    );
    const name = `homelab-image-test-haproxy-${process.pid}`;
    const ip = await runDetached(name, [
      "--user", "0",
      "-v", `${cfg}:/usr/local/etc/haproxy/haproxy.cfg:ro`,
      "-v", "/var/run/docker.sock:/var/run/docker.sock",
      tag,
    ]);
    await withLogs(name, async () => {
      const version = await requestWhenUp(`http://${ip}:2375/version`);
      expect(version.status).toBe(200);
      expect(JSON.parse(version.body)).toHaveProperty("ApiVersion");
      expect((await get(`http://${ip}:2375/v1.41/_ping`)).status).toBe(200);
      expect((await request(`http://${ip}:2375/containers/create`, { method: "POST", body: "{}" })).status).toBe(403);
      expect((await get(`http://${ip}:2375/containers/json`)).status).toBe(403);
    });
  });
});

describe("prom/prometheus:v2.42.0 (Debian's package, lab/images/prometheus)", () => {
  const tag = LAB_IMAGE_TAGS.prometheus;
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("prometheus", log);
    log(`prometheus image ready in ${seconds(t0).toFixed(1)} s`);
  }, 10 * 60000);

  test("cached on a second run; the tarball holds the tag; entrypoint, command, user and volume as the official image's", async () => {
    await expectCached("prometheus", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/bin/prometheus"]);
    expect(cfg.Cmd).toEqual([
      "--config.file=/etc/prometheus/prometheus.yml",
      "--storage.tsdb.path=/prometheus",
      "--web.console.libraries=/usr/share/prometheus/console_libraries",
      "--web.console.templates=/usr/share/prometheus/consoles",
    ]);
    expect(cfg.User).toBe("nobody");
    expect(cfg.WorkingDir).toBe("/prometheus");
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(["9090/tcp"]);
    expect(Object.keys(cfg.Volumes ?? {})).toEqual(["/prometheus"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of prometheus 2.42.0 from Debian's package; not the official image",
    );
  });

  test("`promtool check config` passes on the default config", async () => {
    const r = await run("docker", ["run", "--rm", "--network", "none", "--entrypoint", "/bin/promtool", tag, "check", "config", "/etc/prometheus/prometheus.yml"], {
      allowFail: true,
      timeoutMs: 60000,
    });
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
  });

  test("starts with its default config: /-/ready is 200, buildinfo says 2.42.0, it scrapes itself, the console templates answer", async () => {
    const name = `homelab-image-test-prometheus-${process.pid}`;
    const ip = await runDetached(name, [tag]);
    await withLogs(name, async () => {
      expect(await getWhen200(`http://${ip}:9090/-/ready`)).toMatchObject({ status: 200 });
      const build = await get(`http://${ip}:9090/api/v1/status/buildinfo`);
      expect(build.status).toBe(200);
      // Debian's version string: upstream's 2.42.0 plus +ds (its repacked source).
      expect(JSON.parse(build.body).data.version).toBe("2.42.0+ds");
      // Ready comes before the scrape manager has its targets: ask until it has, for up to 10 s.
      let jobs: string[] = [];
      for (const t0 = Date.now(); jobs.length === 0 && seconds(t0) < 10; await new Promise((r) => setTimeout(r, 250))) {
        const targets = JSON.parse((await get(`http://${ip}:9090/api/v1/targets`)).body).data.activeTargets as Array<{ labels: Record<string, string> }>;
        jobs = targets.map((t) => t.labels.job);
      }
      expect(jobs).toEqual(["prometheus"]);
      // Written by the server running as nobody: /prometheus is that user's.
      expect((await get(`http://${ip}:9090/api/v1/status/tsdb`)).status).toBe(200);
      expect((await get(`http://${ip}:9090/consoles/prometheus.html`)).status).toBe(200);
      expect((await get(`http://${ip}:9090/classic/graph`)).status).toBe(200);
    });
  });
});

describe("prom/alertmanager:v0.25.0 (Debian's package, lab/images/alertmanager)", () => {
  const tag = LAB_IMAGE_TAGS.alertmanager;
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("alertmanager", log);
    log(`alertmanager image ready in ${seconds(t0).toFixed(1)} s`);
  }, 10 * 60000);

  test("cached on a second run; the tarball holds the tag; entrypoint, command and user as the official image's", async () => {
    await expectCached("alertmanager", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/bin/alertmanager"]);
    expect(cfg.Cmd).toEqual(["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]);
    expect(cfg.User).toBe("nobody");
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(["9093/tcp"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of alertmanager 0.25.0 from Debian's package; not the official image",
    );
  });

  test("`amtool check-config` passes on the default config", async () => {
    const r = await run("docker", ["run", "--rm", "--network", "none", "--entrypoint", "/bin/amtool", tag, "check-config", "/etc/alertmanager/alertmanager.yml"], {
      allowFail: true,
      timeoutMs: 60000,
    });
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
  });

  test("starts with its default config: /-/ready is 200, the API reports 0.25.0", async () => {
    const name = `homelab-image-test-alertmanager-${process.pid}`;
    const ip = await runDetached(name, [tag]);
    await withLogs(name, async () => {
      expect(await getWhen200(`http://${ip}:9093/-/ready`)).toMatchObject({ status: 200 });
      const status = await get(`http://${ip}:9093/api/v2/status`);
      expect(status.status).toBe(200);
      expect(JSON.parse(status.body).versionInfo.version).toBe("0.25.0");
    });
  });
});

describe("prom/node-exporter:v1.5.0 (Debian's package, lab/images/node-exporter)", () => {
  const tag = LAB_IMAGE_TAGS["node-exporter"];
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("node-exporter", log);
    log(`node-exporter image ready in ${seconds(t0).toFixed(1)} s`);
  }, 10 * 60000);

  test("cached on a second run; the tarball holds the tag; entrypoint and user as the official image's", async () => {
    await expectCached("node-exporter", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/bin/node_exporter"]);
    expect(cfg.Cmd ?? null).toBeNull(); // docker leaves the field out when the image has no CMD
    expect(cfg.User).toBe("nobody");
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(["9100/tcp"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of node-exporter 1.5.0 from Debian's package; not the official image",
    );
  });

  test("a running container's /metrics has node_exporter_build_info (1.5.0) and node_cpu_seconds_total", async () => {
    const name = `homelab-image-test-node-exporter-${process.pid}`;
    const ip = await runDetached(name, [tag]);
    await withLogs(name, async () => {
      const metrics = await getWhen200(`http://${ip}:9100/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^node_exporter_build_info\{.*version="1\.5\.0".*\} 1$/m);
      expect(metrics.body).toMatch(/^node_cpu_seconds_total\{cpu="0",mode="idle"\} /m);
      // The empty textfile directory of Debian's default is in the image.
      expect(metrics.body).toMatch(/^node_textfile_scrape_error 0$/m);
    });
  });

  // The lab host has no thermal zone, so the Pi's temperature (stacks/monitoring's HighTemperature
  // rule and dashboard panel) is checked against node-exporter reading a sysfs laid out like a Pi 4's:
  // the metric's name and labels as the real collector makes them, not the Pi's kernel.
  test("with a Pi's thermal zone in its sysfs, /metrics has node_thermal_zone_temp in °C", async () => {
    const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-sysfs-"));
    try {
      const zone = path.join(sysfs, "class", "thermal", "thermal_zone0");
      fs.mkdirSync(zone, { recursive: true });
      fs.writeFileSync(path.join(zone, "type"), "cpu-thermal\n");
      fs.writeFileSync(path.join(zone, "temp"), "48312\n");
      fs.writeFileSync(path.join(zone, "policy"), "step_wise\n");
      // The image runs as nobody, like the official one: mkdtemp's 0700 would hide the tree.
      fs.chmodSync(sysfs, 0o755);
      const name = `homelab-image-test-node-exporter-thermal-${process.pid}`;
      const ip = await runDetached(name, ["-v", `${sysfs}:/pi-sys:ro`, tag, "--path.sysfs=/pi-sys", "--collector.disable-defaults", "--collector.thermal_zone"]);
      await withLogs(name, async () => {
        const metrics = await getWhen200(`http://${ip}:9100/metrics`);
        expect(metrics.body).toMatch(/^node_thermal_zone_temp\{type="cpu-thermal",zone="0"\} 48\.312$/m);
      });
    } finally {
      fs.rmSync(sysfs, { recursive: true, force: true });
    }
  });
});

describe("STAND-INs for grafana, vaultwarden, forgejo, mealie, minio, home-assistant and tailscale (one image, lab/images/standin)", () => {
  const tags = labImageTags("standin");
  const forgejo = "codeberg.org/forgejo/forgejo:9.0.3";
  const minio = "minio/minio:RELEASE.2024-12-18T13-15-44Z";
  let tarball = "";
  let dir = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("standin", log);
    log(`standin images ready in ${seconds(t0).toFixed(1)} s`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-standin-test-"));
  }, 10 * 60000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("cached on a second run; one tarball holds every tag over one shared layer; each tag is labelled a stand-in for itself", async () => {
    const t0 = Date.now();
    expect(await ensureLabImage("standin", log)).toBe(tarball);
    expect(seconds(t0)).toBeLessThan(15);
    expect((await savedTags(tarball)).sort()).toEqual([...tags].sort());
    const images = JSON.parse((await run("docker", ["image", "inspect", ...tags])).stdout) as Array<{
      RepoTags: string[];
      RootFS: { Layers: string[] };
      Config: { Entrypoint: string[]; Env: string[]; Labels: Record<string, string> };
    }>;
    expect(new Set(images.map((i) => JSON.stringify(i.RootFS.Layers))).size).toBe(1);
    expect(images[0].RootFS.Layers).toHaveLength(1);
    for (const [i, t] of tags.entries()) {
      expect(images[i].RepoTags).toContain(t);
      expect(images[i].Config.Entrypoint).toEqual(["/standin"]);
      expect(images[i].Config.Env).toContain(`STANDIN_FOR=${t}`);
      expect(images[i].Config.Labels["org.opencontainers.image.description"]).toBe(`homelab lab STAND-IN for ${t} (not the real software)`);
    }
    // The binary once, not once a tag.
    expect(fs.statSync(tarball).size).toBeLessThan(20 * 2 ** 20);
  });

  test("forgejo and minio, given their real commands, answer on their ports naming their own tag; forgejo's ssh port accepts and closes; a secret file is logged by name only; SIGTERM stops them at once", async () => {
    const value = `standin-test-secret-${process.pid}-${Date.now()}`;
    const secret = path.join(dir, "db_password");
    fs.writeFileSync(secret, value, { mode: 0o644 });
    const fj = `homelab-image-test-standin-forgejo-${process.pid}`;
    const mn = `homelab-image-test-standin-minio-${process.pid}`;
    const fjIp = await runDetached(fj, [
      "-p", "127.0.0.1::3000", "-p", "127.0.0.1::22",
      "-v", `${secret}:/run/secrets/db_password:ro`,
      forgejo, "/bin/s6-svscan", "/etc/s6",
    ]);
    await runDetached(mn, ["-p", "127.0.0.1::9000", "-p", "127.0.0.1::9001", minio, "server", "/data", "--console-address", ":9001"]);

    // `port` is the container's own, which Traefik reaches; `host` the published one asked for.
    const answer = (t: string, port: number, p: string, containerPort: number) => ({
      status: 200,
      type: "text/plain; charset=utf-8",
      body: `STAND-IN for ${t} (homelab lab; not the real software)\nhost: 127.0.0.1:${port}\npath: ${p}\nport: ${containerPort}\n`,
    });
    await withLogs(fj, async () => {
      const web = await hostPort(fj, 3000);
      expect(await requestWhenUp(`http://127.0.0.1:${web}/api/healthz`)).toEqual(answer(forgejo, web, "/api/healthz", 3000));
      expect(await request(`http://127.0.0.1:${web}/user/login`)).toEqual(answer(forgejo, web, "/user/login", 3000));
      await hostPort(fj, 22);
      // On the bridge address, not the published port: docker-proxy accepts there and closes when
      // the container refuses, so only a direct connect tells "accepted" from "nothing listens".
      expect(await tcpAnswer(fjIp, 22)).toBe("");

      const logs = await run("docker", ["logs", fj]);
      const text = logs.stdout + logs.stderr;
      expect(text).toContain(`secret db_password: ${value.length} bytes (contents not logged)`);
      expect(text).toContain("started as /standin, ignoring 2 argument(s) meant for the real image");
      expect(text).not.toContain(value);
    });
    await withLogs(mn, async () => {
      for (const port of [9000, 9001]) {
        const p = await hostPort(mn, port);
        expect(await requestWhenUp(`http://127.0.0.1:${p}/minio/health/live`)).toEqual(answer(minio, p, "/minio/health/live", port));
      }
      const api = await hostPort(mn, 9000);
      // A request that is not HTTP gets net/http's 400, and the next one its answer as before.
      expect(await tcpAnswer("127.0.0.1", api, "NOT HTTP\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
      expect(await request(`http://127.0.0.1:${api}/healthz`)).toEqual(answer(minio, api, "/healthz", 9000));
      expect((await run("docker", ["logs", mn])).stderr).toContain("no secrets: /run/secrets does not exist");
    });

    for (const name of [fj, mn]) {
      // Started before the stop: the container is gone (--rm) once it has exited.
      const exit = run("docker", ["wait", name], { allowFail: true });
      const t0 = Date.now();
      await run("docker", ["stop", "-t", "10", name]);
      expect({ name, fast: seconds(t0) < 5, exit: (await exit).stdout.trim() }).toEqual({ name, fast: true, exit: "0" });
    }
  });

  test("an entrypoint through /bin/sh, as stacks/homeassistant's, starts the stand-in (the script is not run)", async () => {
    const ha = "ghcr.io/home-assistant/home-assistant:2024.12.5";
    const name = `homelab-image-test-standin-homeassistant-${process.pid}`;
    await runDetached(name, ["-p", "127.0.0.1::8123", "--entrypoint", "/bin/sh", ha, "/homelab/seed-config.sh"]);
    await withLogs(name, async () => {
      const p = await hostPort(name, 8123);
      const r = await requestWhenUp(`http://127.0.0.1:${p}/manifest.json`);
      expect(r.status).toBe(200);
      expect(r.body.split("\n")[0]).toBe(`STAND-IN for ${ha} (homelab lab; not the real software)`);
      expect((await run("docker", ["logs", name])).stderr).toContain("started as /bin/sh, ignoring 1 argument(s)");
    });
  });
});

/** What a TCP server sends (after `send`, if given) until it closes, within 5 s. */
function tcpAnswer(host: string, port: number, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let got = "";
    sock.setTimeout(5000, () => sock.destroy(new Error(`${host}:${port} still open after 5 s; got ${JSON.stringify(got)}`)));
    sock.on("connect", () => {
      if (send !== undefined) sock.write(send);
    });
    sock.on("data", (d) => (got += d.toString("latin1")));
    sock.on("error", reject);
    sock.on("close", () => resolve(got));
  });
}

describe("gcr.io/cadvisor/cadvisor:v0.49.1 (the real cAdvisor library, lab-written main, lab/images/cadvisor)", () => {
  const tag = LAB_IMAGE_TAGS.cadvisor;
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("cadvisor", log);
    log(`cadvisor image ready in ${seconds(t0).toFixed(1)} s (a cold build takes 1 to 6 min)`);
  }, 15 * 60000);

  test("cached on a second run; the tarball holds the tag; entrypoint, port and healthcheck as the official image's; -version says v0.49.1", async () => {
    await expectCached("cadvisor", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/usr/bin/cadvisor", "-logtostderr"]);
    expect(cfg.Cmd ?? null).toBeNull();
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(["8080/tcp"]);
    const check = JSON.parse((await run("docker", ["image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag])).stdout) as { Test: string[] };
    expect(check.Test).toEqual(["CMD-SHELL", "wget --quiet --tries=1 --spider $CADVISOR_HEALTHCHECK_URL || exit 1"]);
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of cAdvisor v0.49.1 (real library, lab-written main); not the official image",
    );
    const v = await run("docker", ["run", "--rm", "--network", "none", tag, "-version"], { timeoutMs: 60000 });
    expect(v.stdout.trim()).toBe("cAdvisor version v0.49.1 (74350beb)");
  });

  test("with the README's mounts: /healthz is ok, the image's healthcheck passes, /metrics has the container and machine metrics with Docker labels", async () => {
    const name = `homelab-image-test-cadvisor-${process.pid}`;
    // A Swarm task carries this label; cAdvisor turns every Docker label of the containers it sees
    // into a container_label_* label, so its own container stands in for a task here.
    const service = `homelab-image-test-${process.pid}`;
    const ip = await runDetached(name, [
      "--label", `com.docker.swarm.service.name=${service}`,
      // The image's own check, only more often than its 30 s, so that the test sees it run.
      "--health-interval", "1s",
      "-v", "/:/rootfs:ro",
      "-v", "/var/run:/var/run:ro",
      "-v", "/sys:/sys:ro",
      "-v", "/var/lib/docker/:/var/lib/docker:ro",
      tag,
    ]);
    await withLogs(name, async () => {
      expect(await getWhen200(`http://${ip}:8080/healthz`)).toEqual({ status: 200, body: "ok" });

      // The container's own series come after cAdvisor's first look at it (housekeeping, ~1 s).
      const own = new RegExp(`^container_cpu_usage_seconds_total\\{[^}]*container_label_com_docker_swarm_service_name="${service}"[^}]*\\} `, "m");
      let body = "";
      for (const t0 = Date.now(); !own.test(body) && seconds(t0) < 30; await new Promise((r) => setTimeout(r, 500))) {
        body = (await get(`http://${ip}:8080/metrics`)).body;
      }
      expect(body).toMatch(own);
      const series = (metric: string) => body.split("\n").filter((l) => l.startsWith(`${metric}{`));
      for (const metric of ["container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_last_seen", "container_start_time_seconds"]) {
        const mine = series(metric).filter((l) => l.includes(`name="${name}"`));
        expect({ metric, mine: mine.length > 0 }).toEqual({ metric, mine: true });
        for (const l of mine) {
          expect(l).toContain(`container_label_com_docker_swarm_service_name="${service}"`);
          expect(l).toContain(`image="${tag}"`);
        }
        // Every series of a metric carries the same label keys, empty where a container lacks them.
        for (const l of series(metric)) expect(l).toContain("container_label_com_docker_swarm_service_name=");
      }
      expect(body).toMatch(/^machine_memory_bytes\{[^}]*\} [1-9]/m);
      expect(body).toMatch(/^cadvisor_version_info\{[^}]*cadvisorRevision="74350beb",cadvisorVersion="v0\.49\.1"[^}]*\} 1$/m);

      let health = "";
      for (const t0 = Date.now(); health !== "healthy" && seconds(t0) < 30; await new Promise((r) => setTimeout(r, 500))) {
        health = (await run("docker", ["inspect", "--format", "{{.State.Health.Status}}", name])).stdout.trim();
      }
      expect(health).toBe("healthy");
    });
  });
});

describe("node:18.20.4-bookworm-slim (Debian's nodejs package, lab/images/node)", () => {
  const tag = LAB_IMAGE_TAGS.node;
  let tarball = "";

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("node", log);
    log(`node image ready in ${seconds(t0).toFixed(1)} s`);
  }, 10 * 60000);

  /** `docker run --rm` with no network: stdout and stderr, and the exit code. */
  async function runNode(args: string[]): Promise<{ code: number; out: string }> {
    const r = await run("docker", ["run", "--rm", "--network", "none", "--label", "homelab.lab=image-test", ...args], { allowFail: true, timeoutMs: 60000 });
    return { code: r.code, out: (r.stdout + r.stderr).trim() };
  }

  test("cached on a second run; the tarball holds the tag; entrypoint, CMD node and no WORKDIR as the official image's", async () => {
    await expectCached("node", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["docker-entrypoint.sh"]);
    expect(cfg.Cmd).toEqual(["node"]);
    // docker leaves an empty field out: no WORKDIR (/), and root unless a user is asked for.
    expect(cfg.WorkingDir ?? "").toBe("");
    expect(cfg.User ?? "").toBe("");
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of node 18.20.4 from Debian's nodejs package; not the official image",
    );
  });

  test("`node --version` prints v18.20.4, also through the entrypoint given only the flag", async () => {
    expect(await runNode([tag, "node", "--version"])).toEqual({ code: 0, out: "v18.20.4" });
    expect(await runNode([tag, "--version"])).toEqual({ code: 0, out: "v18.20.4" });
  });

  test("`/bin/sh -c 'echo ok'` works, for healthchecks through the shell", async () => {
    expect(await runNode([tag, "/bin/sh", "-c", "echo ok"])).toEqual({ code: 0, out: "ok" });
  });

  test("`--user node` runs as the image's user node (uid and gid 1000), whose home is writable", async () => {
    const script = "const os = require('os'); require('fs').writeFileSync(os.homedir() + '/probe', 'x'); console.log(JSON.stringify([process.getuid(), process.getgid(), os.userInfo().username, os.homedir()]))";
    const r = await runNode(["--user", "node", tag, "node", "-e", script]);
    expect(r).toEqual({ code: 0, out: JSON.stringify([1000, 1000, "node", "/home/node"]) });
  });

  // Debian's node loads these from /usr/share/nodejs at run time (upstream compiles them in): a
  // missing file would abort node at start or fail the first fetch.
  test("Debian's externalized builtins load: fetch (undici) and an ESM import of CommonJS (cjs-module-lexer)", async () => {
    const script = [
      "const s = require('http').createServer((q, r) => r.end('fetched')).listen(0, '127.0.0.1', async () => {",
      "  const r = await fetch(`http://127.0.0.1:${s.address().port}/`);",
      "  require('fs').writeFileSync('/tmp/answer.cjs', 'exports.answer = 42;');",
      "  const { answer } = await import('/tmp/answer.cjs');",
      "  console.log(await r.text(), answer);",
      // Not s.close(), which waits for fetch's idle keep-alive connection to time out.
      "  process.exit(0);",
      "});",
    ].join("\n");
    const r = await runNode([tag, "node", "-e", script]);
    expect(r).toEqual({ code: 0, out: "fetched 42" });
  });

  test("a `node -e` HTTP server answers on the default bridge and passes stacks/jit's healthcheck; its idle RSS is logged", async () => {
    const name = `homelab-image-test-node-http-${process.pid}`;
    // As stacks/jit runs its helper: user node, a 32 MiB old space.
    const server = [
      "require('http').createServer((q, r) => {",
      "  r.setHeader('content-type', 'application/json');",
      "  r.end(JSON.stringify({ path: q.url, version: process.version, rss: process.memoryUsage().rss }));",
      "}).listen(8080);",
    ].join("\n");
    const ip = await runDetached(name, ["--user", "node", tag, "node", "--max-old-space-size=32", "-e", server]);
    await withLogs(name, async () => {
      const first = await requestWhenUp(`http://${ip}:8080/hello`);
      expect(first.status).toBe(200);
      expect(first.type).toBe("application/json");
      expect(JSON.parse(first.body)).toMatchObject({ path: "/hello", version: "v18.20.4" });
      await new Promise((r) => setTimeout(r, 2000));
      const { rss } = JSON.parse((await get(`http://${ip}:8080/`)).body) as { rss: number };
      log(`node http server idle RSS: ${(rss / 2 ** 20).toFixed(1)} MiB`);
      // stacks/jit limits the helper's container to 96M.
      expect(rss).toBeLessThan(96 * 2 ** 20);
      const check = "require('http').get('http://127.0.0.1:8080/healthz', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))";
      expect((await run("docker", ["exec", name, "node", "-e", check], { allowFail: true })).code).toBe(0);
    });
  });
});

describe("restic/restic:0.14.0 (Debian's package, lab/images/restic)", () => {
  const tag = LAB_IMAGE_TAGS.restic;
  const host = "lab-backup-test";
  const tags = ["homelab", "volume=test_data"];
  let tarball = "";
  let dir = "";
  /** The first backup's snapshot, as `snapshots --json` lists it. */
  let first: Snapshot;

  /** A snapshot as restic 0.14's `snapshots --json` lists it (uid and gid are left out when 0). */
  interface Snapshot {
    id: string;
    short_id: string;
    time: string;
    parent?: string;
    tree: string;
    paths: string[];
    hostname: string;
    username: string;
    tags?: string[];
  }

  beforeAll(async () => {
    const t0 = Date.now();
    tarball = await ensureLabImage("restic", log);
    log(`restic image ready in ${seconds(t0).toFixed(1)} s`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-restic-test-"));
    for (const d of ["repo", "data", "data/sub dir", "restored"]) fs.mkdirSync(path.join(dir, d));
    // The repository's password, as a Swarm secret would hold it: a file, never an argument or an
    // environment value.
    fs.writeFileSync(path.join(dir, "password"), `${crypto.randomBytes(24).toString("base64")}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "wrong-password"), "not the password\n", { mode: 0o600 });
    // A volume's kind of content: text, an empty file, a name with a space, and a SQLite-like
    // database (the header's magic and page size, random pages, a run of zero pages).
    fs.writeFileSync(path.join(dir, "data", "notes.txt"), "restic round trip\n".repeat(100));
    fs.writeFileSync(path.join(dir, "data", "empty"), "");
    fs.writeFileSync(path.join(dir, "data", "sub dir", "config.json"), JSON.stringify({ answer: 42 }));
    const header = Buffer.alloc(100);
    header.write("SQLite format 3\0", "latin1");
    header.writeUInt16BE(4096, 16);
    fs.writeFileSync(path.join(dir, "data", "app.db"), Buffer.concat([header, crypto.randomBytes(64 * 1024 - 100), Buffer.alloc(64 * 1024)]));
  }, 10 * 60000);

  afterAll(() => {
    // The container wrote the repository and the restored files as root; the tests run as root.
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * `docker run --rm` of the image with no network: the repository in the host's dir/repo at
   * /repo, the password file (dir/password, or another) read-only at /run/secrets/restic_password
   * and named by RESTIC_PASSWORD_FILE, the data read-only at /data, dir/restored at /restored.
   */
  async function restic(args: string[], passwordFile = "password"): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(
      "docker",
      [
        "run", "--rm", "--network", "none", "--label", "homelab.lab=image-test",
        "-e", "RESTIC_REPOSITORY=/repo",
        "-e", "RESTIC_PASSWORD_FILE=/run/secrets/restic_password",
        "-v", `${path.join(dir, passwordFile)}:/run/secrets/restic_password:ro`,
        "-v", `${path.join(dir, "repo")}:/repo`,
        "-v", `${path.join(dir, "data")}:/data:ro`,
        "-v", `${path.join(dir, "restored")}:/restored`,
        tag, ...args,
      ],
      { allowFail: true, timeoutMs: 60000 },
    );
  }

  /** Runs restic and fails with its output unless it exits 0; returns its stdout. */
  async function resticOk(args: string[]): Promise<string> {
    const r = await restic(args);
    if (r.code !== 0) throw new Error(`restic ${args.join(" ")} exited ${r.code}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  async function snapshots(): Promise<Snapshot[]> {
    return JSON.parse(await resticOk(["snapshots", "--json"]));
  }

  /** `backup --json` of /data as the host and with the tags above; returns its summary line. */
  async function backup(): Promise<{ message_type: string; files_new: number; files_changed: number; files_unmodified: number; snapshot_id: string }> {
    const lines = (await resticOk(["backup", "--json", "--host", host, ...tags.flatMap((t) => ["--tag", t]), "/data"])).trim().split("\n");
    return JSON.parse(lines[lines.length - 1]);
  }

  /** Every file below root by its relative path, with its sha256. */
  function hashes(root: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const p = path.join(rel, e.name);
        if (e.isDirectory()) walk(p);
        else out[p] = crypto.createHash("sha256").update(fs.readFileSync(path.join(root, p))).digest("hex");
      }
    };
    walk("");
    return out;
  }

  test("cached on a second run; the tarball holds the tag; entrypoint as the official image's", async () => {
    await expectCached("restic", tarball);
    const cfg = await imageConfig(tag);
    expect(cfg.Entrypoint).toEqual(["/usr/bin/restic"]);
    expect(cfg.Cmd ?? null).toBeNull();
    expect(cfg.WorkingDir ?? "").toBe("");
    expect(cfg.User ?? "").toBe("");
    expect(cfg.Labels["org.opencontainers.image.description"]).toBe(
      "homelab lab build of restic 0.14.0 from Debian's package; not the official image",
    );
  });

  test("`docker run --rm restic/restic:0.14.0 version` says 0.14.0", async () => {
    const v = await run("docker", ["run", "--rm", "--network", "none", "--label", "homelab.lab=image-test", tag, "version"], { timeoutMs: 60000 });
    expect(v.stdout.trim()).toMatch(/^restic 0\.14\.0 compiled with go\S+ on linux\/amd64$/);
  });

  test("what a compose file relies on besides restic: /bin/sh, an ssh client that sftp: runs, the CA bundle, zone data", async () => {
    const sh = await run(
      "docker",
      ["run", "--rm", "--network", "none", "--label", "homelab.lab=image-test", "--entrypoint", "/bin/sh", tag,
        "-c", "test -x /usr/bin/restic && test -s /etc/ssl/certs/ca-certificates.crt && echo \"$HOME\" && TZ=Europe/Berlin date -d @0 +%H && ssh -V"],
      { allowFail: true, timeoutMs: 60000 },
    );
    expect({ code: sh.code, out: sh.stdout.trim() }).toEqual({ code: 0, out: "/root\n01" });
    expect(sh.stderr).toMatch(/^OpenSSH_9\.2p1 Debian/);
    // restic's sftp: backend runs ssh; with no network its connection is refused.
    const r = await restic(["-r", "sftp:backup@127.0.0.1:/srv/restic", "snapshots"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("subprocess ssh: ssh: connect to host 127.0.0.1 port 22: Connection refused");
  });

  test("init: a repository in a bind-mounted host directory, the password from RESTIC_PASSWORD_FILE (a read-only file)", async () => {
    expect(await resticOk(["init"])).toMatch(/^created restic repository [0-9a-f]{10} at \/repo$/m);
    expect(fs.readdirSync(path.join(dir, "repo")).sort()).toEqual(["config", "data", "index", "keys", "locks", "snapshots"]);
  });

  test("backup of a directory: the --json summary, and `snapshots --json` lists one snapshot with the host and tags", async () => {
    const summary = await backup();
    expect(summary).toMatchObject({ message_type: "summary", files_new: 4, files_changed: 0, files_unmodified: 0 });
    const list = await snapshots();
    expect(list).toHaveLength(1);
    [first] = list;
    expect(first).toMatchObject({ hostname: host, tags, paths: ["/data"], username: "root" });
    expect(first.parent).toBeUndefined();
    // 0.14's summary names the snapshot by its short ID.
    expect(summary.snapshot_id).toBe(first.short_id);
  });

  test("restore into an empty directory gives the same files (sha256 on the host)", async () => {
    await resticOk(["restore", "latest", "--host", host, "--target", "/restored"]);
    const want = hashes(path.join(dir, "data"));
    expect(Object.keys(want).sort()).toEqual(["app.db", "empty", "notes.txt", "sub dir/config.json"]);
    // restic restores a snapshot's absolute paths below the target.
    expect(hashes(path.join(dir, "restored", "data"))).toEqual(want);
  });

  test("a wrong password fails with restic's error and a non-zero exit", async () => {
    const r = await restic(["snapshots"], "wrong-password");
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: "Fatal: wrong password or no key found" });
  });

  test("`forget --keep-last 1 --prune` after a second backup leaves one snapshot, the second, and `check` passes", async () => {
    fs.appendFileSync(path.join(dir, "data", "app.db"), crypto.randomBytes(4096));
    expect(await backup()).toMatchObject({ files_new: 0, files_changed: 1, files_unmodified: 3 });
    const two = await snapshots();
    expect(two).toHaveLength(2);
    const second = two.find((s) => s.id !== first.id) as Snapshot;
    // Same host and paths: restic found the first as the parent (only changed files are read).
    expect(second.parent).toBe(first.id);
    await resticOk(["forget", "--keep-last", "1", "--prune"]);
    expect((await snapshots()).map((s) => s.id)).toEqual([second.id]);
    expect(await resticOk(["check"])).toContain("no errors were found");
  });
});

describe("homelab-lab/sqlite-writer:3.40.1 (the backup drill's TEST FIXTURE, lab/images/sqlite-writer)", () => {
  const tag = LAB_IMAGE_TAGS["sqlite-writer"];
  let dir = "";

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("commits row and counter together, stops cleanly on SIGTERM, and checks the database it finds at its next start", async () => {
    const tarball = await ensureLabImage("sqlite-writer", log);
    await expectCached("sqlite-writer", tarball);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-sqlite-writer-"));
    const name = `homelab-sqlite-writer-${process.pid}`;
    started.push(name);
    await run("docker", ["run", "-d", "--name", name, "-v", `${dir}:/data`, tag]);
    await new Promise((r) => setTimeout(r, 3000));
    await run("docker", ["stop", "-t", "10", name]);
    const first = (await run("docker", ["logs", name])).stdout;
    expect(first.split("\n")[0]).toBe("startup-check none");
    const stoppedRows = Number(/^stopped rows=(\d+)$/m.exec(first)?.[1]);
    expect(stoppedRows).toBeGreaterThan(10);
    // Its next start finds exactly what it had when stopped, consistent.
    await run("docker", ["start", name]);
    await new Promise((r) => setTimeout(r, 1000));
    const second = (await run("docker", ["logs", name])).stdout.split("\n").filter((l) => l.startsWith("startup-check"));
    expect(second[1]).toBe(`startup-check rows=${stoppedRows} counter=${stoppedRows} integrity=ok`);
    // A database torn by hand (its middle overwritten) is reported, not silently used.
    await run("docker", ["stop", "-t", "10", name]);
    const db = path.join(dir, "app.db");
    const fd = fs.openSync(db, "r+");
    fs.writeSync(fd, Buffer.alloc(4096, 0x55), 0, 4096, 4096);
    fs.closeSync(fd);
    await run("docker", ["start", name]);
    await new Promise((r) => setTimeout(r, 1000));
    const third = (await run("docker", ["logs", name])).stdout.split("\n").filter((l) => l.startsWith("startup-check"));
    expect(third[2]).not.toMatch(/integrity=ok$/);
  });
});

describe("ensureLabImages", () => {
  test("gives every lab image's tags and tarball, in LAB_IMAGE_TAGS order (all cached by now)", async () => {
    const t0 = Date.now();
    const all = await ensureLabImages(log);
    expect(all.map((i) => i.tags)).toEqual((Object.keys(LAB_IMAGE_TAGS) as LabImageName[]).map(labImageTags));
    for (const i of all) expect((await savedTags(i.tarball)).sort()).toEqual([...i.tags].sort());
    expect(seconds(t0)).toBeLessThan(30);
  });
});
