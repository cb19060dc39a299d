/**
 * The restore command's client against a fake agent API over real TLS (a certificate made here
 * with openssl for the agent's host name): what it sends (token in the header only, the host name
 * for SNI and Host while connecting to --address) and how it follows a restore to its end. The
 * agent's side is services/backup's tests; the whole path runs on the lab in backup.e2e.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { AgentApi, VolumeStatus, apiFromOutputs, restoreVolume } from "./restore";

const TOKEN = "t".repeat(40);
const HOST = "backup.home.arpa";
let dir = "";
let server: https.Server;
let api: AgentApi;
const seen: { method: string; url: string; host?: string; auth?: string; servername?: string }[] = [];
let volumes: VolumeStatus[] = [];
/** What the next restore ends as, after two status polls. */
let outcome: { result: "ok" | "failed"; error?: string } = { result: "ok" };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "restore-client-"));
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", `/CN=${HOST}`, "-addext", `subjectAltName=DNS:${HOST}`, "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
  let polls = 0;
  server = https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert }, (req, res) => {
    seen.push({ method: req.method!, url: req.url!, host: req.headers.host, auth: req.headers.authorization, servername: (req.socket as unknown as { servername?: string }).servername || undefined });
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { error: "unauthorized" });
    if (req.method === "GET" && req.url === "/api/status") {
      const v = volumes[0];
      if (v?.restore?.result === "running" && ++polls >= 2) v.restore = { ...v.restore, ...outcome, finished: new Date().toISOString() };
      return reply(200, { running: v?.restore?.result === "running" ? { kind: "restore", reason: "api", volume: v.swarmVolume } : null, queued: 0, volumes });
    }
    const m = /^\/api\/restore\/([^?]+)\?snapshot=(.+)$/.exec(req.url!);
    if (req.method === "POST" && m) {
      polls = 0;
      volumes[0].restore = { snapshot: decodeURIComponent(m[2]), result: "running", started: new Date().toISOString() };
      return reply(202, { status: "started", volume: decodeURIComponent(m[1]) });
    }
    reply(404, { error: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  api = { url: `https://${HOST}:${(server.address() as import("net").AddressInfo).port}`, token: TOKEN, ca: cert, address: "127.0.0.1" };
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen.length = 0;
  volumes = [{ swarmVolume: "vaultwarden_data", node: "swarm-manager-2", services: ["vaultwarden_vaultwarden"], restore: null }];
});

test("asks the agent for the restore and follows it until it is done; the token travels in the header only, the host name in SNI and Host", async () => {
  outcome = { result: "ok" };
  const lines: string[] = [];
  const r = await restoreVolume(api, "vaultwarden_data", "latest", (l) => lines.push(l));
  expect(r).toMatchObject({ snapshot: "latest", result: "ok" });
  expect(seen.map((s) => `${s.method} ${s.url}`)).toContain("POST /api/restore/vaultwarden_data?snapshot=latest");
  for (const s of seen) expect({ auth: s.auth, host: s.host, servername: s.servername }).toEqual({ auth: `Bearer ${TOKEN}`, host: api.url.slice("https://".length), servername: HOST });
  expect(lines.join("\n")).not.toContain(TOKEN);
  expect(lines[0]).toBe("vaultwarden_data: restore of latest started on swarm-manager-2 (services vaultwarden_vaultwarden stop meanwhile)");
  expect(lines.at(-1)).toMatch(/^vaultwarden_data: restored from latest in [\d.]+ s; its services are started again$/);
}, 20000);

test("a failed restore is an error with the agent's reason and what to do; an unknown volume names the known ones", async () => {
  outcome = { result: "failed", error: "restic restore failed (exit 1); left stopped: vaultwarden_vaultwarden (had 1)" };
  await expect(restoreVolume(api, "vaultwarden_data", "4f3c2a1b", () => undefined)).rejects.toThrow(
    "vaultwarden_data: the restore failed: restic restore failed (exit 1); left stopped: vaultwarden_vaultwarden (had 1). Its services are left stopped so that nothing starts on a half-restored volume. Fix the cause, then run npm run restore -- vaultwarden_data again.",
  );
  await expect(restoreVolume(api, "nope_data", "latest", () => undefined)).rejects.toThrow("the agent has no volume nope_data. Fix: one of vaultwarden_data (npm run restore -- --list)");
  await expect(restoreVolume({ ...api, token: "wrong" }, "vaultwarden_data", "latest", () => undefined)).rejects.toThrow(/GET \/api\/status: 401/);
}, 20000);

test("the stack outputs give the agent's URL and token; a stack without the agent says how to get one", () => {
  fs.writeFileSync(path.join(dir, "ca.crt"), "PEM");
  expect(apiFromOutputs({ urls: { "backup/agent": "https://backup.home.arpa/" }, generatedSecrets: { "backup/backup_token": TOKEN }, caCertificateFile: "ca.crt" }, dir, "10.0.0.1")).toEqual({ url: "https://backup.home.arpa/", token: TOKEN, ca: "PEM", address: "10.0.0.1" });
  expect(() => apiFromOutputs({ urls: {}, generatedSecrets: {}, caCertificateFile: "ca.crt" }, dir)).toThrow(/the stack has no backup agent.*check homelab:platform.backup and pulumi up/);
});
