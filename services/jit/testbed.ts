/**
 * What jit.test.ts runs the real helper in and against, all on 127.0.0.1: a fake Docker Engine API (only
 * the three calls the helper makes), a DNS server answering tasks.<service> the way Swarm's
 * embedded DNS does (an A record per running task, TTL 600; NXDOMAIN with no task), and real HTTP
 * backends that "scaling" starts and stops. Not Swarm: no scheduling, placement, image pulls or
 * overlay networks; the lab tests cover those.
 */
import { ChildProcess, spawn } from "child_process";
import * as dgram from "dgram";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";

export const MIB = 1024 * 1024;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The app in a task: answers with what it saw, streams, resets, and echoes upgraded sockets. */
class Backend {
  private server?: http.Server;
  private sockets = new Set<net.Socket>();
  private timer?: NodeJS.Timeout;
  requests = 0;

  constructor(readonly name: string, readonly port: number, readonly startDelayMs: number) {}

  start(): void {
    if (this.server || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const server = http.createServer((req, res) => this.handle(req, res));
      server.on("connection", (s) => {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
      });
      server.on("upgrade", (req, socket: net.Socket) => {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => undefined);
        if (req.url === "/no-upgrade") {
          socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nno upgrade\n");
          return;
        }
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\nX-Backend: ${this.name}\r\n\r\n`);
        socket.pipe(socket);
      });
      server.listen(this.port, "127.0.0.1");
      this.server = server;
    }, this.startDelayMs);
  }

  /** Like a container stopping: the port closes and open connections drop. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/reset") {
      req.socket.destroy();
      return;
    }
    if (url.pathname === "/hop") {
      // Headers named in Connection are for this hop only (RFC 9110 7.6.1).
      res.writeHead(200, { connection: "x-hop", "x-hop": "1", "x-end": "1" });
      res.end(JSON.stringify({ headers: req.headers }));
      return;
    }
    if (url.pathname === "/stream") {
      // A long download: chunks every `ms`, so the client sees the first long before the last.
      const n = Number(url.searchParams.get("n") ?? 5);
      const ms = Number(url.searchParams.get("ms") ?? 100);
      res.writeHead(200, { "content-type": "text/plain" });
      let i = 0;
      const tick = setInterval(() => {
        res.write(`chunk ${i}\n`);
        if (++i === n) {
          clearInterval(tick);
          res.end();
        }
      }, ms);
      res.on("close", () => clearInterval(tick));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.stringify({ backend: this.name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] });
      res.end(body);
    });
  }
}

export interface FakeServiceOptions {
  /** Replicas at the start (a service the helper finds running). */
  replicas?: number;
  /** From "running" to the app answering HTTP. */
  startDelayMs?: number;
  /** From the update to the task running (scheduling, container start). */
  taskDelayMs?: number;
}

interface FakeService {
  name: string;
  version: number;
  spec: any;
  taskState?: "starting" | "running";
  taskTimer?: NodeJS.Timeout;
  backend: Backend;
}

export interface DockerCall {
  method: string;
  path: string;
  body?: any;
  at: number;
}

/** A Docker Engine API and a DNS server for a few services, recording every call. */
export class FakeSwarm {
  readonly calls: DockerCall[] = [];
  /** Updates that changed more than Mode.Replicated.Replicas (the helper must never). */
  readonly specViolations: string[] = [];
  private services = new Map<string, FakeService>();
  private docker?: http.Server;
  private dns?: dgram.Socket;
  dockerPort = 0;
  dnsPort = 0;
  /** How long an update call takes to be answered (Swarm's own latency). */
  updateDelayMs = 0;
  /** Requests on a kept-alive connection to drop unanswered, as a proxy closing idle connections does. */
  dropReused = 0;
  private served = new WeakSet<net.Socket>();

  async add(name: string, port: number, options: FakeServiceOptions = {}): Promise<void> {
    const spec = {
      Name: name,
      Labels: { "com.docker.stack.namespace": name.split("_")[0], "homelab.stack": name.split("_")[0] },
      TaskTemplate: {
        ContainerSpec: { Image: `example/${name}:1.0@sha256:${"ab".repeat(32)}`, Env: ["A=1"], Secrets: [] },
        Resources: { Limits: { MemoryBytes: 128 * MIB }, Reservations: { MemoryBytes: 64 * MIB } },
        Placement: { Constraints: ["node.labels.app == true"] },
        ForceUpdate: 0,
      },
      Mode: { Replicated: { Replicas: options.replicas ?? 0 } },
      EndpointSpec: { Mode: "dnsrr" },
    };
    const svc: FakeService = { name, version: 10, spec, backend: new Backend(name, port, options.startDelayMs ?? 0) };
    this.services.set(name, svc);
    this.apply(svc, options.taskDelayMs ?? 0);
    if (options.replicas) {
      clearTimeout(svc.taskTimer);
      svc.taskState = "running";
      svc.backend.start();
      // Already running before the test: wait until it answers.
      for (let i = 0; i < 100 && !(await answers(port)); i++) await sleep(20);
    }
  }

  /** Scales a service behind the helper's back, as a deploy resetting replicas or `docker service scale` would. */
  scale(name: string, replicas: number): void {
    const svc = this.services.get(name)!;
    svc.spec = { ...svc.spec, Mode: { Replicated: { Replicas: replicas } } };
    svc.version++;
    this.apply(svc, 0);
  }

  replicas(name: string): number {
    return this.services.get(name)!.spec.Mode.Replicated.Replicas;
  }

  updates(name?: string): { name: string; replicas: number; at: number }[] {
    return this.calls
      .filter((c) => c.method === "POST" && (!name || c.path.includes(`/services/${name}/`)))
      .map((c) => ({ name: c.body.Name, replicas: c.body.Mode.Replicated.Replicas, at: c.at }));
  }

  backendRequests(name: string): number {
    return this.services.get(name)!.backend.requests;
  }

  async start(): Promise<void> {
    this.docker = http.createServer((req, res) => this.api(req, res));
    await new Promise<void>((resolve) => this.docker!.listen(0, "127.0.0.1", resolve));
    this.dockerPort = (this.docker.address() as net.AddressInfo).port;
    this.dns = dgram.createSocket("udp4");
    this.dns.on("message", (msg, from) => this.answer(msg, from));
    await new Promise<void>((resolve) => this.dns!.bind(0, "127.0.0.1", resolve));
    this.dnsPort = this.dns.address().port;
  }

  async close(): Promise<void> {
    for (const svc of this.services.values()) {
      clearTimeout(svc.taskTimer);
      await svc.backend.stop();
    }
    this.docker?.closeAllConnections();
    await new Promise((resolve) => (this.docker ? this.docker.close(resolve) : resolve(undefined)));
    await new Promise((resolve) => (this.dns ? this.dns.close(() => resolve(undefined)) : resolve(undefined)));
  }

  /** Swarm converging on the replicas: a task starts (after taskDelayMs) or goes, with its app. */
  private apply(svc: FakeService, taskDelayMs: number): void {
    const replicas = svc.spec.Mode.Replicated.Replicas;
    clearTimeout(svc.taskTimer);
    if (replicas > 0 && !svc.taskState) {
      svc.taskState = "starting";
      svc.taskTimer = setTimeout(() => {
        svc.taskState = "running";
        svc.backend.start();
      }, taskDelayMs);
    } else if (replicas === 0) {
      svc.taskState = undefined;
      void svc.backend.stop();
    }
  }

  private api(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.served.has(req.socket) && this.dropReused > 0) {
      this.dropReused--;
      req.socket.destroy();
      return;
    }
    this.served.add(req.socket);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://docker");
      const text = Buffer.concat(chunks).toString();
      const call: DockerCall = { method: req.method ?? "", path: url.pathname + url.search, body: text ? JSON.parse(text) : undefined, at: Date.now() };
      this.calls.push(call);
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      const m = /^\/v1\.41\/services\/([^/]+)(\/update)?$/.exec(url.pathname);
      if (m) {
        const svc = this.services.get(decodeURIComponent(m[1]));
        if (!svc) return send(404, { message: `service ${m[1]} not found` });
        if (req.method === "GET" && !m[2]) return send(200, { ID: `id-${svc.name}`, Version: { Index: svc.version }, Spec: svc.spec });
        if (req.method === "POST" && m[2]) {
          if (Number(url.searchParams.get("version")) !== svc.version) return send(500, { message: "rpc error: code = Unknown desc = update out of sequence" });
          const without = (spec: any) => JSON.stringify({ ...spec, Mode: undefined });
          if (without(call.body) !== without(svc.spec)) this.specViolations.push(`${svc.name}: ${text}`);
          svc.spec = call.body;
          svc.version++;
          setTimeout(() => {
            this.apply(svc, 0);
            send(200, { Warnings: null });
          }, this.updateDelayMs);
          return;
        }
      }
      if (req.method === "GET" && url.pathname === "/v1.41/tasks") {
        const filters = JSON.parse(url.searchParams.get("filters") ?? "{}");
        const wanted: string[] = filters.service ?? [];
        const tasks = [...this.services.values()]
          .filter((s) => wanted.includes(s.name) && s.taskState)
          .map((s) => ({ ID: `task-${s.name}`, ServiceID: `id-${s.name}`, DesiredState: "running", Status: { State: s.taskState } }));
        return send(200, tasks);
      }
      send(404, { message: `page not found: ${req.method} ${url.pathname}` });
    });
  }

  /** A DNS answer: A 127.0.0.1 for tasks.<service> while its task runs, else NXDOMAIN. */
  private answer(msg: Buffer, from: dgram.RemoteInfo): void {
    if (msg.length < 17) return;
    const labels: string[] = [];
    let i = 12;
    while (i < msg.length && msg[i] !== 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString("ascii"));
      i += msg[i] + 1;
    }
    const question = msg.subarray(12, i + 5);
    const qtype = msg.readUInt16BE(i + 1);
    const name = labels.join(".").toLowerCase();
    const svc = name.startsWith("tasks.") ? this.services.get(name.slice(6)) : undefined;
    const found = svc?.taskState === "running";
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(found ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(found && qtype === 1 ? 1 : 0, 6);
    const parts = [header, question];
    if (found && qtype === 1) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(600, 6);
      rr.writeUInt16BE(4, 10);
      Buffer.from([127, 0, 0, 1]).copy(rr, 12);
      parts.push(rr);
    }
    this.dns?.send(Buffer.concat(parts), from.port, from.address);
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// The helper as a child process, and HTTP as its clients speak it.

export const TOKEN = "test-token-0123456789abcdef";
const JIT = `${__dirname}/jit.js`;

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** The real jit.js, started with `node --max-old-space-size=32` as the stack runs it. */
export class Jit {
  readonly logs: string[] = [];
  port = 0;
  metricsPort = 0;
  private exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess, readonly stderr: string[]) {
    this.exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
    let partial = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      this.logs.push(...lines);
    });
  }

  /**
   * Writes the config and token to `dir` and starts the helper; resolves once it has read the swarm.
   * JIT_TEST_NODE runs it on another Node (e.g. an official 18.20.4 binary, as on the Pis).
   */
  static async start(dir: string, config: object): Promise<Jit> {
    const configPath = path.join(dir, `config-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(path.join(dir, "token"), `${TOKEN}\n`);
    fs.writeFileSync(configPath, JSON.stringify({ tokenFile: path.join(dir, "token"), ...config }));
    const proc = spawn(process.env.JIT_TEST_NODE || process.execPath, ["--max-old-space-size=32", JIT, configPath], { stdio: ["ignore", "pipe", "pipe"] });
    const stderr: string[] = [];
    proc.stderr!.on("data", (c: Buffer) => stderr.push(c.toString()));
    const jit = new Jit(proc, stderr);
    const listening = await jit.waitLog(/event=listening /);
    jit.port = Number(/ port=(\d+)/.exec(listening)![1]);
    jit.metricsPort = Number(/ metricsPort=(\d+)/.exec(listening)![1]);
    await jit.waitLog(/event=state /);
    return jit;
  }

  /** Runs the helper on a config that should be refused; resolves with its exit code and stderr. */
  static async refuse(dir: string, config: object): Promise<{ code: number | null; stderr: string }> {
    const configPath = path.join(dir, "bad.json");
    fs.writeFileSync(configPath, JSON.stringify(config));
    const proc = spawn(process.env.JIT_TEST_NODE || process.execPath, [JIT, configPath], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
    return { code, stderr };
  }

  async waitLog(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logs.find((l) => pattern.test(l));
      if (line) return line;
      if (this.proc.exitCode !== null) throw new Error(`jit exited (${this.proc.exitCode}): ${this.stderr.join("")}${this.logs.join("\n")}`);
      if (Date.now() > deadline) throw new Error(`no log line ${pattern} in:\n${this.logs.join("\n")}`);
      await sleep(20);
    }
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.alive) this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  request(host: string, urlPath: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Reply> {
    return send(this.port, host, urlPath, options);
  }

  /** A call to the helper's API with the token (or another, or none with null). */
  api(method: string, urlPath: string, token: string | null = TOKEN): Promise<Reply> {
    return send(this.port, "jit.home.arpa", urlPath, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  }

  async status(): Promise<{ services: any[]; nodes: any[] }> {
    return JSON.parse((await this.api("GET", "/api/status")).body);
  }

  async metrics(): Promise<string> {
    return (await send(this.metricsPort, "127.0.0.1", "/metrics", {})).body;
  }

  /** Opens an upgraded connection through the helper; resolves with the socket and the 101's head. */
  upgrade(host: string, urlPath = "/ws"): Promise<{ socket: net.Socket; head: string }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, "127.0.0.1");
      socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
      let head = "";
      const onData = (c: Buffer) => {
        head += c.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        resolve({ socket, head: head.slice(0, end) });
      };
      socket.on("data", onData);
      socket.on("error", reject);
    });
  }
}

/** Sends `text` on an upgraded socket and resolves with what comes back. */
export function echo(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.length >= text.length) {
        socket.off("data", onData);
        resolve(got);
      }
    };
    socket.on("data", onData);
    socket.write(text);
  });
}

export function send(port: number, host: string, urlPath: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string }): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method: options.method ?? "GET", agent: false, headers: { host, ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - started }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Polls `check` every 50 ms until it returns something truthy. */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
