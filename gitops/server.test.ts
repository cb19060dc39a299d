/** The runner's HTTP side on a real loopback socket, with the run loop replaced by a recorder. */
import * as http from "http";
import { createServer } from "./server";
import { EMPTY_STATUS } from "./status";
import { sign } from "./webhook";

const SECRET = "webhook-secret";
const TOKEN = "status-token";
let server: http.Server;
let base = "";
const triggers: string[] = [];
const logs: string[] = [];

beforeAll(async () => {
  server = createServer({
    branch: "main",
    repository: "ssh://git@forge.lan/owner/homelab.git",
    webhookSecret: () => SECRET,
    statusToken: () => TOKEN,
    status: () => ({ ...EMPTY_STATUS, lastCommit: { commit: "c".repeat(40), subject: "s", result: "held", summary: "1 to replace", reasons: ["node w1"], at: "2026-12-01T10:00:00Z", seconds: 3 } }),
    trigger: (reason) => (triggers.push(reason), triggers.length === 1),
    log: (l) => logs.push(l),
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const push = (ref: string, delivery: string, secret = SECRET, event = "push") => {
  const body = JSON.stringify({ ref, after: "a".repeat(40) });
  return fetch(`${base}/hooks`, { method: "POST", body, headers: { "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": `sha256=${sign(secret, body)}` } });
};

test("a signed push to the followed branch triggers a run; the next one queues", async () => {
  const first = await push("refs/heads/main", "d1");
  expect(first.status).toBe(202);
  expect(await first.json()).toEqual({ queued: false, started: true });
  expect(await (await push("refs/heads/main", "d2")).json()).toEqual({ queued: true, started: false });
  expect(triggers).toEqual(["webhook github d1", "webhook github d2"]);
});

test("a bad signature, a replay, another branch and another event trigger nothing", async () => {
  const before = triggers.length;
  expect((await push("refs/heads/main", "d3", "wrong")).status).toBe(401);
  expect((await push("refs/heads/main", "d1")).status).toBe(409);
  const other = await push("refs/heads/feature", "d4");
  expect(other.status).toBe(202);
  expect(((await other.json()) as { ignored: string }).ignored).toMatch(/follows refs\/heads\/main/);
  expect((await push("refs/heads/main", "d5", SECRET, "ping")).status).toBe(202);
  expect(triggers.length).toBe(before);
  expect(logs.join("\n")).toMatch(/webhook refused \(401\)/);
});

test("the status and a manual run want the token; the metrics and health do not", async () => {
  expect((await fetch(`${base}/status`)).status).toBe(401);
  expect((await fetch(`${base}/status`, { headers: { Authorization: "Bearer nope" } })).status).toBe(401);
  const ok = await fetch(`${base}/status`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(ok.status).toBe(200);
  expect(await ok.json()).toMatchObject({ branch: "main", lastCommit: { result: "held", reasons: ["node w1"] } });
  expect((await fetch(`${base}/run`, { method: "POST" })).status).toBe(401);
  expect((await fetch(`${base}/run`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(202);
  expect(triggers[triggers.length - 1]).toBe("manual");
  expect(await (await fetch(`${base}/metrics`)).text()).toContain('homelab_gitops_runs_total{result="held"} 0');
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
});
