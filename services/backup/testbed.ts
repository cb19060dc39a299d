/**
 * What agent.test.ts runs the real backup agent against, on 127.0.0.1: a fake Swarm Docker Engine
 * API holding services in memory (versions, replicas, tasks), the agent's own service with the
 * secrets it mounts, and replicated-job services
 * that a test-supplied handler "runs" (it sees the job's spec and answers an exit code and output,
 * which the fake serves as Docker's multiplexed log stream). Every call is recorded. Not Swarm: no
 * scheduling, placement, secrets' files or volumes; the lab tests are for those. Also a fake JIT
 * helper API (hold, release, stop) that records its calls and checks its token and Host.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import * as readline from "readline";

// The JIT helper's testbed already has these (test code only: nothing here is deployed).
import { sleep, until } from "../jit/testbed";
export { sleep, until };

/** What a job does: how it ends, what it prints, and how long it takes. `hang` never ends. */
export interface JobRun {
  exitCode?: number;
  stdout?: string[];
  stderr?: string[];
  delayMs?: number;
  hang?: boolean;
}
export type JobHandler = (spec: any) => JobRun;

interface Task {
  ID: string;
  ServiceID: string;
  DesiredState: string;
  Status: { State: string; Err?: string; ContainerStatus?: { ExitCode: number } };
}

interface FakeService {
  id: string;
  version: number;
  spec: any;
  tasks: Task[];
  logs: Buffer;
  timers: NodeJS.Timeout[];
}

export interface DockerCall {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: any;
  at: number;
}

export interface JobRecord {
  id: string;
  spec: any;
  createdAt: number;
  removedAt?: number;
}

/** One frame of Docker's log stream: [stream, 0, 0, 0, size (BE32)] and the payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

export class FakeSwarm {
  readonly calls: DockerCall[] = [];
  readonly jobs: JobRecord[] = [];
  /** How long a scaled-down task keeps running (its container stopping). */
  stopDelayMs = 100;
  handler: JobHandler = () => ({ exitCode: 0 });
  private services = new Map<string, FakeService>();
  private server?: http.Server;
  private seq = 0;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.services.values()) s.timers.forEach(clearTimeout);
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  /** A replicated service with `replicas` tasks running. */
  addService(name: string, replicas: number): void {
    const id = `svc${++this.seq}`;
    const spec = {
      Name: name,
      Labels: { "com.docker.stack.namespace": name.split("_")[0] },
      TaskTemplate: { ContainerSpec: { Image: `example/${name}:1`, Env: ["A=1"] }, Placement: { Constraints: ["node.hostname == swarm-manager-2"] } },
      Mode: { Replicated: { Replicas: replicas } },
    };
    const svc: FakeService = { id, version: 7, spec, tasks: [], logs: Buffer.alloc(0), timers: [] };
    this.services.set(id, svc);
    this.converge(svc);
  }

  /** A job service left by an agent that stopped mid-run. */
  addLeftoverJob(name: string, volume: string): string {
    const id = `svc${++this.seq}`;
    const spec = { Name: name, Labels: { "homelab.backup.job": volume }, Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } }, TaskTemplate: { ContainerSpec: { Image: "restic/restic:0.14.0" } } };
    this.services.set(id, { id, version: 3, spec, tasks: [], logs: Buffer.alloc(0), timers: [] });
    return id;
  }

  /** The agent's own service, as the backup stack deploys it (secrets are mounted with mountSecret). */
  addAgent(name: string): void {
    const id = `svc${++this.seq}`;
    const spec = { Name: name, Labels: { "com.docker.stack.namespace": name.split("_")[0] }, TaskTemplate: { ContainerSpec: { Image: "node:18.20.4-bookworm-slim", User: "node", Secrets: [] } }, Mode: { Replicated: { Replicas: 1 } } };
    this.services.set(id, { id, version: 2, spec, tasks: [], logs: Buffer.alloc(0), timers: [] });
  }

  /**
   * Mounts a secret (named as the platform names them, by content) in a service at `target` (its
   * File.Name as the compose file gave it), root's and 0400 as the stack sets it; returns its ID.
   * A target mounted already gets the new secret, as a rotation's redeploy would.
   */
  mountSecret(service: string, target: string, secretName: string): string {
    const svc = this.byRef(service)!;
    const id = `sec${++this.seq}${"0".repeat(20)}`;
    const list = svc.spec.TaskTemplate.ContainerSpec.Secrets.filter((m: any) => m.File.Name !== target);
    list.push({ File: { Name: target, UID: "0", GID: "0", Mode: 0o400 }, SecretID: id, SecretName: secretName });
    svc.spec.TaskTemplate.ContainerSpec.Secrets = list;
    svc.version++;
    return id;
  }

  /** Scales behind the agent's back, as the JIT helper waking a service would. */
  scale(name: string, replicas: number): void {
    const svc = this.byRef(name)!;
    svc.spec = { ...svc.spec, Mode: { Replicated: { Replicas: replicas } } };
    svc.version++;
    this.converge(svc);
  }

  replicas(name: string): number {
    return this.byRef(name)!.spec.Mode.Replicated.Replicas;
  }

  /** Tasks of the service whose containers run (or are about to). */
  liveTasks(name: string): number {
    return this.byRef(name)!.tasks.filter((t) => t.Status.State === "running").length;
  }

  exists(ref: string): boolean {
    return this.byRef(ref) !== undefined;
  }

  /** The replicas each update set on `name`, in order, with when. */
  updates(name?: string): { name: string; replicas: number; at: number }[] {
    return this.calls
      .filter((c) => c.method === "POST" && c.path.endsWith("/update"))
      .map((c) => ({ name: c.body.Name, replicas: c.body.Mode.Replicated.Replicas, at: c.at }))
      .filter((u) => !name || u.name === name);
  }

  private byRef(ref: string): FakeService | undefined {
    return this.services.get(ref) ?? [...this.services.values()].find((s) => s.spec.Name === ref);
  }

  /** Swarm converging on the replicas: at 0, tasks are told to shut down and stop after stopDelayMs. */
  private converge(svc: FakeService): void {
    const want = svc.spec.Mode.Replicated.Replicas;
    const live = svc.tasks.filter((t) => t.DesiredState === "running");
    if (want === 0) {
      for (const t of live) {
        t.DesiredState = "shutdown";
        svc.timers.push(setTimeout(() => (t.Status.State = "shutdown"), this.stopDelayMs));
      }
    }
    for (let i = live.length; i < want; i++) svc.tasks.push({ ID: `task${++this.seq}`, ServiceID: svc.id, DesiredState: "running", Status: { State: "running" } });
  }

  private createJob(spec: any): FakeService {
    const id = `job${++this.seq}`;
    const task: Task = { ID: `task${++this.seq}`, ServiceID: id, DesiredState: "complete", Status: { State: "running" } };
    const svc: FakeService = { id, version: 1, spec, tasks: [task], logs: Buffer.alloc(0), timers: [] };
    this.services.set(id, svc);
    this.jobs.push({ id, spec, createdAt: Date.now() });
    const run = this.handler(spec);
    if (!run.hang) {
      svc.timers.push(
        setTimeout(() => {
          const code = run.exitCode ?? 0;
          task.Status = code === 0 ? { State: "complete", ContainerStatus: { ExitCode: 0 } } : { State: "failed", Err: `task: non-zero exit (${code})`, ContainerStatus: { ExitCode: code } };
          const out = (run.stdout ?? []).map((l) => frame(1, `${l}\n`));
          const err = (run.stderr ?? []).map((l) => frame(2, `${l}\n`));
          svc.logs = Buffer.concat([...out, ...err]);
        }, run.delayMs ?? 20),
      );
    }
    return svc;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://docker");
      const text = Buffer.concat(chunks).toString();
      const call: DockerCall = { method: req.method ?? "", path: url.pathname, query: url.searchParams, body: text ? JSON.parse(text) : undefined, at: Date.now() };
      this.calls.push(call);
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}");
      const p = url.pathname.replace(/^\/v1\.41/, "");
      if (!url.pathname.startsWith("/v1.41/")) return send(404, { message: "no such API version" });
      if (req.method === "GET" && p === "/services") {
        const labels: string[] = filters.label ?? [];
        const list = [...this.services.values()].filter((s) => labels.every((l) => (l.includes("=") ? `${l.split("=")[0]}=${s.spec.Labels?.[l.split("=")[0]]}` === l : s.spec.Labels?.[l] !== undefined)));
        return send(200, list.map((s) => ({ ID: s.id, Version: { Index: s.version }, Spec: s.spec })));
      }
      if (req.method === "POST" && p === "/services/create") {
        if (!call.body?.Mode?.ReplicatedJob) return send(400, { message: "this fake only creates replicated jobs" });
        if ([...this.services.values()].some((s) => s.spec.Name === call.body.Name)) return send(409, { message: `rpc error: code = AlreadyExists desc = name conflicts with an existing object: service ${call.body.Name} already exists` });
        return send(201, { ID: this.createJob(call.body).id });
      }
      if (req.method === "GET" && p === "/tasks") {
        const refs: string[] = filters.service ?? [];
        const desired: string[] | undefined = filters["desired-state"];
        const tasks = refs.flatMap((r) => this.byRef(r)?.tasks ?? []).filter((t) => !desired || desired.includes(t.DesiredState));
        return send(200, tasks);
      }
      const m = /^\/services\/([^/]+)(\/update|\/logs)?$/.exec(p);
      const svc = m ? this.byRef(decodeURIComponent(m[1])) : undefined;
      if (m && !svc) return send(404, { message: `service ${m[1]} not found` });
      if (m && svc) {
        if (req.method === "GET" && !m[2]) return send(200, { ID: svc.id, Version: { Index: svc.version }, Spec: svc.spec });
        if (req.method === "DELETE" && !m[2]) {
          svc.timers.forEach(clearTimeout);
          this.services.delete(svc.id);
          const job = this.jobs.find((j) => j.id === svc.id);
          if (job) job.removedAt = Date.now();
          return send(200, null);
        }
        if (req.method === "POST" && m[2] === "/update") {
          if (Number(url.searchParams.get("version")) !== svc.version) return send(500, { message: "rpc error: code = Unknown desc = update out of sequence" });
          svc.spec = call.body;
          svc.version++;
          this.converge(svc);
          return send(200, { Warnings: null });
        }
        if (req.method === "GET" && m[2] === "/logs") {
          res.writeHead(200, { "content-type": "application/vnd.docker.multiplexed-stream" });
          // In two writes cut inside a header, as a stream may arrive.
          res.write(svc.logs.subarray(0, 5));
          res.end(svc.logs.subarray(5));
          return;
        }
      }
      send(404, { message: `page not found: ${req.method} ${url.pathname}` });
    });
  }
}

/**
 * The Docker API calls the agent's README ("Docker API calls") says it makes, as a check of
 * (method, path): the socket filter is written from that list, so a call outside it would be
 * refused in the stack. SERVICE and APPS in the README's expressions stand for the agent's own
 * service and the alternation of the volumes' services.
 */
export function documentedDockerCalls(service: string, apps: string[]): (method: string, path: string) => boolean {
  const readme = fs.readFileSync(path.join(__dirname, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Docker API calls"));
  const block = /```\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("README.md: no code block of method and path expressions under \"Docker API calls\"");
  const literal = (name: string) => name.replace(/[.]/g, "\\.");
  const rules = block[1]
    .trim()
    .split("\n")
    .map((line) => {
      const [method, pattern] = line.trim().split(/\s+/);
      return { method, path: new RegExp(pattern.replace("SERVICE", literal(service)).replace("APPS", apps.map(literal).join("|"))) };
    });
  return (method, p) => rules.some((r) => r.method === method && r.path.test(p));
}

// ---------------------------------------------------------------------------------------------
// A fake JIT helper: its API only (POST /api/hold, /api/release, /api/stop, /api/keepawake, GET
// /api/status), on its apiHost with its token. Services are the FakeSwarm's: `<stack>/<service>`
// is Swarm's `<stack>_<service>`.

export const JIT_TOKEN = "jit-test-token-0123456789abcdef";
export const JIT_HOST = "jit.home.arpa";

export interface JitCall {
  action: string;
  /** The name as the helper decodes it (`<stack>/<service>`). */
  name: string;
  /** The request's path as sent (the name's slash as %2F). */
  rawPath: string;
  query: URLSearchParams;
  /** Whether the Host header was the helper's apiHost and the token was right. */
  ok: boolean;
  status: number;
  at: number;
}

export class FakeJit {
  readonly calls: JitCall[] = [];
  /** A test's own answer to a call (undefined: as the helper would). */
  answer: (call: JitCall) => number | undefined = () => undefined;
  /** Called on each call before it is answered (to see what the swarm looks like then). */
  onCall: (call: JitCall) => void = () => {};
  /** How long a keep-awake's wake takes before the status says "awake" (Infinity: never). */
  wakeDelayMs = 150;
  /** When each service woken by a keep-awake is ready. */
  private readyAt = new Map<string, number>();
  private server?: http.Server;
  port = 0;

  constructor(private readonly swarm: FakeSwarm) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  /** The agent's `jit` config for this helper, with its token file written to `dir`. */
  config(dir: string): object {
    const tokenFile = path.join(dir, "jit_token");
    fs.writeFileSync(tokenFile, `${JIT_TOKEN}\n`);
    return { url: this.url, host: JIT_HOST, tokenFile };
  }

  /** The calls as "action name[?query]" ("status" for GET /api/status), in order. */
  get log(): string[] {
    return this.calls.map((c) => `${c.action} ${c.name}${[...c.query].length ? `?${c.query}` : ""}`);
  }

  /** As the helper's status says: asleep at 0 replicas, waking until a keep-awake's wake is done. */
  private state(name: string): string {
    const service = name.replace("/", "_");
    if (!this.swarm.exists(service) || this.swarm.replicas(service) === 0) return "asleep";
    return Date.now() < (this.readyAt.get(name) ?? 0) ? "waking" : "awake";
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://jit");
      const status = url.pathname === "/api/status";
      const m = /^\/api\/(hold|release|stop|keepawake)\/([^/]+)$/.exec(url.pathname);
      const ok = req.headers.host === JIT_HOST && req.headers.authorization === `Bearer ${JIT_TOKEN}` && req.method === (status ? "GET" : "POST");
      const call: JitCall = { action: status ? "status" : (m?.[1] ?? ""), name: m ? decodeURIComponent(m[2]) : "", rawPath: url.pathname, query: url.searchParams, ok, status: 0, at: Date.now() };
      this.calls.push(call);
      this.onCall(call);
      const reply = (value: object) => {
        res.writeHead(call.status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (status && ok) {
        call.status = this.answer(call) ?? 200;
        const names = [...new Set(this.calls.filter((c) => c.name).map((c) => c.name))];
        return reply({ services: names.map((name) => ({ name, state: this.state(name) })) });
      }
      const service = call.name.replace("/", "_");
      const awake = this.swarm.exists(service) && this.swarm.replicas(service) > 0;
      // As the helper: a hold needs it asleep; a keep-awake wakes it unless it is up already.
      const usual = call.action === "hold" && awake ? 409 : call.action === "keepawake" && this.state(call.name) !== "awake" ? 202 : 200;
      call.status = !ok ? 401 : !m ? 404 : (this.answer(call) ?? usual);
      if (call.status === 200 && call.action === "stop" && awake) this.swarm.scale(service, 0);
      if (call.status === 202 && !awake) {
        this.swarm.scale(service, 1);
        this.readyAt.set(call.name, Date.now() + this.wakeDelayMs);
      }
      if (call.status < 300) return reply({ name: call.name, state: this.state(call.name) });
      reply({ error: call.status === 409 ? `${call.name} is not asleep (awake); it can be held only while it sleeps` : `fake JIT helper: ${call.status}` });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The agent as a child process.

export const TOKEN = "backup-test-token-0123456789";
const AGENT = `${__dirname}/agent.js`;

export interface Reply {
  status: number;
  body: string;
  json: any;
}

/** agent.js on `configPath`, as the stack runs it (BACKUP_TEST_NODE: another Node binary). */
function spawnAgent(configPath: string): ChildProcess {
  return spawn(process.env.BACKUP_TEST_NODE || process.execPath, [AGENT, configPath], { stdio: ["ignore", "pipe", "pipe"] });
}

function writeJson(file: string, value: object): string {
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

export class Agent {
  readonly logs: string[] = [];
  readonly stderr: string[] = [];
  port = 0;
  metricsPort = 0;
  private exited: Promise<unknown>;

  private constructor(readonly proc: ChildProcess) {
    this.exited = new Promise((resolve) => proc.once("exit", resolve));
    readline.createInterface({ input: proc.stdout! }).on("line", (line) => this.logs.push(line));
    proc.stderr!.on("data", (c: Buffer) => this.stderr.push(c.toString()));
  }

  /** Writes the config and token to `dir` and starts agent.js; resolves once it listens. */
  static async start(dir: string, config: object): Promise<Agent> {
    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, `${TOKEN}\n`);
    const agent = new Agent(spawnAgent(writeJson(path.join(dir, `config-${process.hrtime.bigint()}.json`), { tokenFile, ...config })));
    const listening = await agent.waitEvent("listening");
    agent.port = listening.port;
    agent.metricsPort = listening.metricsPort;
    return agent;
  }

  /** Runs agent.js on a config that should be refused; resolves with its exit code and stderr. */
  static async refuse(dir: string, config: object): Promise<{ code: number | null; stderr: string }> {
    const agent = new Agent(spawnAgent(writeJson(path.join(dir, "bad.json"), config)));
    const code = await agent.exited;
    return { code: code as number | null, stderr: agent.stderr.join("") };
  }

  /** The parsed log lines, each { time, event, ... }. */
  get events(): any[] {
    return this.logs.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  async waitEvent(event: string, match: (e: any) => boolean = () => true, timeoutMs = 8000): Promise<any> {
    return until(`log event ${event}`, () => {
      if (this.proc.exitCode !== null) throw new Error(`agent exited (${this.proc.exitCode}): ${this.stderr.join("")}${this.logs.join("\n")}`);
      return this.events.find((e) => e.event === event && match(e));
    }, timeoutMs).catch((err) => {
      throw new Error(`${err.message}\n${this.logs.join("\n")}`);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  /** A call to the API with the token (or another, or none with null). */
  api(method: string, urlPath: string, token: string | null = TOKEN, host = "backup.home.arpa"): Promise<Reply> {
    return request(this.port, host, method, urlPath, token === null ? {} : { authorization: `Bearer ${token}` });
  }

  async status(): Promise<any> {
    return (await this.api("GET", "/api/status")).json;
  }

  async metrics(): Promise<string> {
    return (await request(this.metricsPort, "127.0.0.1", "GET", "/metrics", {})).body;
  }
}

export function request(port: number, host: string, method: string, urlPath: string, headers: http.OutgoingHttpHeaders): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, agent: false, headers: { host, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        let json: any;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on("error", reject);
    req.end();
  });
}
