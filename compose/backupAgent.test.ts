import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { loadStacks } from "../config/stacks";
import { DEFAULT_BACKUP, DEFAULT_BACKUP_REPOSITORY } from "../config/schema";
import { configIssues, stackConfig } from "../tests/fixtures";
import { BackupPlan } from "./backup";
import { RESTIC_IMAGE, renderBackupConfig, renderBackupSocketFilter, repositoryKind, resticRepository } from "./backupAgent";

const STACKS = path.resolve(__dirname, "..", "stacks");
const volume = (swarmVolume: string, node: string, services: string[], jit = false) => ({
  stack: swarmVolume.split("_")[0],
  volume: swarmVolume.split("_")[1],
  swarmVolume,
  node,
  services,
  jit,
  quiesce: jit ? ("asleep" as const) : ("stop" as const),
});
const PLAN: BackupPlan = { volumes: [volume("mealie_data", "w1", ["mealie_mealie"], true), volume("homeassistant_config", "m2", ["homeassistant_homeassistant"])], problems: [] };

describe("the agent's config", () => {
  const render = (repository: string, jitServices: string[] = ["mealie/mealie"], schedule = "03:00") =>
    JSON.parse(renderBackupConfig(PLAN, { backup: { ...DEFAULT_BACKUP, repository, schedule }, domain: "home.arpa", jitServices }));

  test("the default repository is MinIO's API over the routing network, with its keys as a credentials file, kept awake when it sleeps", () => {
    const config = render(DEFAULT_BACKUP_REPOSITORY, ["mealie/mealie", "minio/minio"]);
    expect(config).toMatchObject({
      repository: "s3:http://minio_minio:9000/homelab-backups",
      credentialsSecret: "restic_credentials",
      network: "traefik-public",
      keepAwake: ["minio/minio"],
      jit: { url: "http://jit_jit:8080", host: "jit.home.arpa", tokenFile: "/run/secrets/jit_token" },
      service: "backup_agent",
      apiHost: "backup.home.arpa",
      schedule: { daily: "03:00" },
      retention: { daily: 7, weekly: 4, monthly: 6 },
    });
    expect(config.sshKeySecret).toBeUndefined();
  });

  test("an always-on MinIO is not woken; an sftp repository gets the key and known hosts, and no network", () => {
    expect(render(DEFAULT_BACKUP_REPOSITORY, ["mealie/mealie"]).keepAwake).toBeUndefined();
    const sftp = render("sftp:backup@nas:/srv/restic", [], "6h");
    expect(sftp).toMatchObject({ repository: "sftp:backup@nas:/srv/restic", sshKeySecret: "restic_ssh_key", knownHostsSecret: "restic_known_hosts", schedule: { everySeconds: 21600 } });
    expect([sftp.credentialsSecret, sftp.network, sftp.keepAwake]).toEqual([undefined, undefined, undefined]);
    expect(render("rest:http://nas:8000/").credentialsSecret).toBeUndefined();
  });

  test("each volume names its node and services, and a JIT one the helper's names for them", () => {
    const config = render("s3:https://s3.example.org/homelab");
    expect(config.volumes).toEqual([
      { swarmVolume: "mealie_data", node: "w1", services: ["mealie_mealie"], jit: true, jitNames: ["mealie/mealie"] },
      { swarmVolume: "homeassistant_config", node: "m2", services: ["homeassistant_homeassistant"], jit: false },
    ]);
    // With no JIT volume and no sleeping MinIO, the agent is given no way to the helper.
    expect(JSON.parse(renderBackupConfig({ volumes: [PLAN.volumes[1]], problems: [] }, { backup: DEFAULT_BACKUP, domain: "d", jitServices: [] })).jit).toBeUndefined();
  });

  test("repository kinds and URLs", () => {
    expect([DEFAULT_BACKUP_REPOSITORY, "s3:x", "sftp:x", "rest:x"].map(repositoryKind)).toEqual(["minio", "s3", "sftp", "rest"]);
    expect(resticRepository("sftp:u@h:/r")).toBe("sftp:u@h:/r");
  });
});

describe("the committed homelab config", () => {
  const { config } = stackConfig("homelab");

  test("deploys the agent with MinIO's credentials and the JIT token, mounted so that only root reads the restic ones; MinIO's own volume is not backed up into itself", () => {
    const stacks = loadStacks(config, STACKS, () => true);
    const backup = stacks.find((s) => s.name === "backup")!;
    expect(backup.secrets.map((s) => [s.key, s.source])).toEqual([
      ["backup_token", { kind: "random", length: 40 }],
      ["restic_password", { kind: "platform", name: "backup-password" }],
      ["restic_credentials", { kind: "platform", name: "backup-credentials" }],
      ["jit_token", { kind: "platform", name: "jit-token" }],
    ]);
    const mounts = (backup.document.services as any).agent.secrets.map((s: { source: string; mode: number }) => [s.source, s.mode.toString(8)]);
    expect(mounts).toEqual([["backup_token", "444"], ["restic_password", "400"], ["restic_credentials", "400"], ["jit_token", "444"]]);
    const agentConfig = JSON.parse(backup.configs.find((c) => c.key === "backup_config")!.content);
    expect(agentConfig.volumes.map((v: { swarmVolume: string }) => v.swarmVolume)).not.toContain("minio_data");
    expect(agentConfig.volumes).toHaveLength(7);
    expect(backup.configs.find((c) => c.key === "backup_program")!.content).toBe(fs.readFileSync(path.resolve(__dirname, "..", "services", "backup", "agent.js"), "utf8"));
  });

  const issuesOf = configIssues;

  test("the default repository without MinIO deployed, and an sftp one without its key, stop the run with the fix", () => {
    const noMinio = { ...config, platform: { ...config.platform, stacks: config.platform.stacks.filter((s) => s !== "minio") } };
    expect(issuesOf(() => loadStacks(noMinio, STACKS, () => true)).join("\n")).toMatch(/homelab:platform.backup.repository: is the cluster's MinIO \(the default\), but stacks\/minio is not deployed. Fix: add minio/);
    const sftp = { ...config, platform: { ...config.platform, backup: { ...DEFAULT_BACKUP, repository: "sftp:b@nas:/r", knownHosts: ["nas ssh-ed25519 AAAA"] } } };
    expect(issuesOf(() => loadStacks(sftp, STACKS, (key) => key !== "backupSshKey"))).toEqual([
      "homelab:platform.backup.repository: sftp:b@nas:/r needs homelab:backupSshKey, which is not set. Fix: pulumi config set --secret homelab:backupSshKey < path/to/private_key (a key the SFTP server accepts for the repository's user).",
    ]);
    const withKey = loadStacks(sftp, STACKS, () => true).find((s) => s.name === "backup")!;
    expect(withKey.secrets.map((s) => s.key)).toEqual(["backup_token", "restic_password", "restic_ssh_key", "restic_known_hosts", "jit_token"]);
  });

  test("backups off: no agent", () => {
    const off = { ...config, platform: { ...config.platform, backup: false as const } };
    expect(loadStacks(off, STACKS, () => true).map((s) => s.name)).not.toContain("backup");
  });
});

/**
 * The filter for real: Debian's haproxy with the rendered config, in front of a fake Docker socket
 * that answers 200 to whatever reaches it. What it shows: which method and path pass, and that a
 * create passes only with the job label and the restic image in its body.
 */
describe("the socket filter, in haproxy", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-filter-"));
  const socket = path.join(dir, "docker.sock");
  const reached: string[] = [];
  let docker: http.Server;
  let haproxy: ChildProcess;
  let port = 0;

  beforeAll(async () => {
    const bin = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => fs.existsSync(p));
    if (!bin) throw new Error("haproxy is not installed: bash lab/host-setup.sh (Debian's haproxy)");
    docker = http.createServer((req, res) => {
      reached.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    await new Promise<void>((resolve) => docker.listen(socket, resolve));
    port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const cfg = renderBackupSocketFilter(PLAN).replace("bind :2375", `bind 127.0.0.1:${port}`).replace("/var/run/docker.sock", socket).replace(/^\s+log .*$/gm, "");
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
    haproxy = spawn(bin, ["-db", "-f", path.join(dir, "haproxy.cfg")], { stdio: "ignore" });
    for (let i = 0; i < 50; i++) {
      if (await status("GET", "/_ping").catch(() => 0)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("haproxy did not start");
  });

  afterAll(async () => {
    haproxy?.kill();
    await new Promise((resolve) => docker?.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function status(method: string, urlPath: string, body?: unknown): Promise<number> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers: data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {} }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(data);
    });
  }

  const job = (image: string, labels: Record<string, string>) => ({ Name: "backup-job-mealie_data-1", Labels: labels, TaskTemplate: { ContainerSpec: { Image: image, Args: ["backup"] } } });

  test.each([
    ["GET", "/v1.41/_ping", 200],
    ["GET", "/v1.41/services/backup_agent", 200],
    ["GET", "/v1.41/services/mealie_mealie", 200],
    ["POST", "/v1.41/services/mealie_mealie/update?version=3", 200],
    ["POST", "/v1.41/services/homeassistant_homeassistant/update?version=3", 200],
    ["GET", "/v1.41/tasks?filters=%7B%7D", 200],
    ["GET", "/v1.41/services?filters=%7B%22label%22%3A%5B%22homelab.backup.job%22%5D%7D", 200],
    ["GET", "/v1.41/services/backup-job-mealie_data-1/logs?stdout=1&stderr=1", 200],
    ["DELETE", "/v1.41/services/backup-job-mealie_data-1", 200],
    // What it must not do:
    ["POST", "/v1.41/services/backup_agent/update?version=3", 403],
    ["POST", "/v1.41/services/traefik_traefik/update?version=3", 403],
    ["GET", "/v1.41/services/traefik_traefik", 403],
    ["DELETE", "/v1.41/services/mealie_mealie", 403],
    ["GET", "/v1.41/secrets", 403],
    ["POST", "/v1.41/containers/create", 403],
    ["GET", "/v1.41/containers/json", 403],
    ["POST", "/v1.41/swarm/leave", 403],
    ["GET", "/v1.41/services/mealie_mealie/logs", 403],
  ])("%s %s → %i", async (method, urlPath, expected) => {
    expect(await status(method, urlPath)).toBe(expected);
  });

  test("a create passes with the job label and the restic image only", async () => {
    expect(await status("POST", "/v1.41/services/create", job(RESTIC_IMAGE, { "homelab.backup.job": "mealie_data" }))).toBe(200);
    expect(await status("POST", "/v1.41/services/create", job("alpine:3", { "homelab.backup.job": "mealie_data" }))).toBe(403);
    expect(await status("POST", "/v1.41/services/create", job(RESTIC_IMAGE, {}))).toBe(403);
    expect(reached.filter((r) => r.startsWith("POST /v1.41/services/create"))).toHaveLength(1);
  });
});
