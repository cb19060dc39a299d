// @ts-check
/**
 * The backup agent: on a schedule (or when asked through its API) it backs up each configured
 * Swarm volume with restic, one volume at a time. It stops the services that write the volume
 * (scale to 0), runs restic as a Swarm replicated-job service on the volume's node with the volume
 * mounted read-only, reads restic's JSON summary from the job's logs, removes the job and starts
 * the services again. Afterwards one `forget --prune` job applies the retention policy. It also
 * restores a volume from a snapshot, the same way. See docs/backups.md and README.md beside this.
 *
 * The restic password and the repository's credentials reach the jobs only as Swarm secrets
 * (files). The agent's own service mounts them (root's, mode 0400, while the agent runs as `node`),
 * and the agent hands them on by the references it reads from its own service spec: this process
 * never reads them.
 *
 * A just-in-time volume is backed up only while its services sleep. With the `jit` config, the JIT
 * helper is asked to hold them asleep for the job's time (POST /api/hold), so that no request wakes
 * them under it, and to release them afterwards. A just-in-time repository (MinIO, `keepAwake`) is
 * the other way round: the helper keeps it awake for the whole operation (POST /api/keepawake),
 * since the jobs reach it directly and their traffic never counts as use there.
 *
 * Runs as `node /app/agent.js [/etc/backup/config.json]` on node:18 with this file as a Swarm
 * config: one CommonJS file, Node's standard library only. `node agent.js --healthcheck [config]`
 * asks the running agent's /healthz (the image has no curl).
 */
"use strict";

const http = require("http");
const fs = require("fs");

const DEFAULT_CONFIG = "/etc/backup/config.json";
/** Docker Engine API 1.41 (Docker 20.10), as the JIT helper. */
const API = "/v1.41";
const DOCKER_TIMEOUT_MS = 15000;
const JIT_TIMEOUT_MS = 15000;
/** The longest hold the JIT helper grants (its MAX_HOLD_SECONDS). */
const MAX_HOLD_SECONDS = 21600;
const JOB_LABEL = "homelab.backup.job";
/**
 * Every job's name starts so: the socket filter allows reading the logs of and removing only
 * services named so (README, "Docker API calls").
 */
const JOB_PREFIX = "backup-job-";
/** Where the jobs find the password and the optional credentials (Swarm secret targets). */
const PASSWORD_FILE = "/run/secrets/restic_password";
const CREDENTIALS_FILE = "/run/secrets/restic_credentials";
/** Task states in which a container may still be running (or about to). */
const LIVE_STATES = new Set(["new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"]);
/** Task states a job's task ends in. */
const DONE_STATES = new Set(["complete", "failed", "rejected", "shutdown", "orphaned", "remove"]);
const RESULTS = /** @type {const} */ (["ok", "failed", "deferred"]);
const NO_REPOSITORY = "Is there a repository at the following location?";
const MISSING_PATH = "does not exist, skipping";
const SNAPSHOT = /^(latest|[0-9a-f]{8,64})$/;

/**
 * @typedef {{ swarmVolume: string, node: string, services: string[], jit: boolean, jitNames: string[] }} VolumeConfig
 * @typedef {{ url: string, connect: { host: string, port: number }, host: string, tokenFile: string }} JitConfig
 * @typedef {{ daily: { hour: number, minute: number } } | { everySeconds: number }} Schedule
 * @typedef {{ listen: number, metricsListen: number, docker: { host: string, port: number }, apiHost: string,
 *   tokenFile: string, service: string, schedule: Schedule, repository: string, resticImage: string, passwordSecret: string,
 *   credentialsSecret: string | undefined, sshKeySecret: string | undefined, knownHostsSecret: string | undefined,
 *   network: string | undefined, retention: { daily: number, weekly: number, monthly: number },
 *   jobTimeoutSeconds: number, quiesceTimeoutSeconds: number, jitRetrySeconds: number, pollSeconds: number,
 *   jit: JitConfig | undefined, keepAwake: string[], volumes: VolumeConfig[] }} Config
 * @typedef {"ok" | "failed" | "deferred"} Result
 * @typedef {{ name: string, replicas: number }} Scaled
 * @typedef {{ kind: "backup", volumes: Set<string> | null, forget: boolean, reason: string }} BackupOp
 * @typedef {{ kind: "restore", volume: string, snapshot: string, reason: string }} RestoreOp
 * @typedef {{ kind: "snapshots", reason: string }} SnapshotsOp
 * @typedef {BackupOp | RestoreOp | SnapshotsOp} Op
 * @typedef {{ state: string, exitCode: number, stdout: string, stderr: string, lines: string[], error: string }} JobOutcome
 */

// ---------------------------------------------------------------------------------------------
// Logs: one JSON object per line. Fields come from config, Docker and error messages only (never
// request headers, so never the token; never a secret's content, which this process never reads).

/** @param {string} event @param {Record<string, unknown>} [fields] */
function log(event, fields) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
}

/** @param {unknown} err */
const messageOf = (err) => (err instanceof Error ? err.message : String(err));
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const noop = () => {};

// ---------------------------------------------------------------------------------------------
// Configuration: every problem at once, each naming its key; unknown keys are problems too.

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isRecord = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
/** @param {unknown} v */
const shown = (v) => (v === undefined ? "nothing" : v === null ? "null" : Array.isArray(v) ? "a list" : `${typeof v} ${JSON.stringify(v)}`);
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** Docker's rule for volume, service, secret and network names. */
const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** The JIT helper's rule for its config names (`<stack>/<service>`). */
const JIT_NAME = /^[A-Za-z0-9][\w./-]*$/;
/** A secret's target in a service: a file name under /run/secrets, or that path in full. */
const SECRET_TARGET = /^(?:\/run\/secrets\/)?[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Swarm keeps a target as the compose file gave it, relative or absolute: both name the same file. @param {string} name */
const targetName = (name) => name.replace(/^\/run\/secrets\//, "");

/** One object of the config: each read names the key, and `close` reports the keys never read. */
class Section {
  /** @param {string[]} problems @param {string} path @param {unknown} value */
  constructor(problems, path, value) {
    this.problems = problems;
    this.path = path;
    this.obj = isRecord(value) ? value : {};
    /** @type {string[]} */
    this.read = [];
    if (!isRecord(value)) this.problem("", `expected an object, got ${shown(value)}`);
  }
  /** @param {string} key @param {string} text */
  problem(key, text) {
    const where = key ? (this.path ? `${this.path}.${key}` : key) : this.path || "the config";
    this.problems.push(`${where}: ${text}`);
  }
  /** @param {string} key */
  get(key) {
    this.read.push(key);
    return this.obj[key];
  }
  /**
   * A number, or `fallback` when absent (undefined: required).
   * @param {string} key @param {number | undefined} fallback @param {(n: number) => boolean} ok @param {string} what
   */
  num(key, fallback, ok, what) {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === "number" && Number.isFinite(v) && ok(v)) return v;
    this.problem(key, `expected ${what}, got ${shown(v)}`);
    return 0;
  }
  /** @param {string} key @param {number} fallback */
  port(key, fallback) {
    return this.num(key, fallback, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, "a port number (0 picks a free one, for tests)");
  }
  /** @param {string} key @param {number | undefined} fallback */
  seconds(key, fallback) {
    return this.num(key, fallback, (n) => n > 0, "a number of seconds above 0");
  }
  /** @param {string} key @param {number | undefined} fallback */
  count(key, fallback) {
    return this.num(key, fallback, (n) => Number.isInteger(n) && n >= 0, "a whole number, 0 or more");
  }
  /**
   * A string matching `pattern`, or `fallback` when absent (undefined: required).
   * @param {string} key @param {string | undefined} fallback @param {RegExp} pattern @param {string} what
   */
  str(key, fallback, pattern, what) {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === "string" && pattern.test(v)) return v;
    this.problem(key, `expected ${what}, got ${shown(v)}`);
    return "";
  }
  /** An optional string. @param {string} key @param {RegExp} pattern @param {string} what */
  optional(key, pattern, what) {
    return this.obj[key] === undefined ? (this.get(key), undefined) : this.str(key, undefined, pattern, what);
  }
  /** @param {string} key */
  list(key) {
    const v = this.get(key);
    if (Array.isArray(v)) return v;
    if (v !== undefined) this.problem(key, `expected a list, got ${shown(v)}`);
    return [];
  }
  close() {
    const unknown = Object.keys(this.obj).filter((k) => !this.read.includes(k));
    for (const k of unknown) this.problem(k, `unknown key (known here: ${this.read.join(", ")})`);
  }
}

/**
 * An http:// URL with no path, and the host and port to connect to.
 * @param {Section} s @param {string} key @param {string} fallback
 */
function readEndpoint(s, key, fallback) {
  const url = s.str(key, fallback, /^http:\/\/[^/?#\s]+\/?$/, `an http:// URL with no path, e.g. "${fallback}"`);
  const connect = { host: "", port: 80 };
  if (url) {
    try {
      const parsed = new URL(url);
      connect.host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
      connect.port = Number(parsed.port || 80);
    } catch (err) {
      s.problem(key, `${JSON.stringify(url)} is not a URL (${messageOf(err)})`);
    }
  }
  return { url, connect };
}

/** The optional `jit` key: how to reach the JIT helper's API. @param {string[]} problems @param {unknown} raw @returns {JitConfig | undefined} */
function readJit(problems, raw) {
  if (raw === undefined) return undefined;
  const s = new Section(problems, "jit", raw);
  const { url, connect } = readEndpoint(s, "url", "http://jit_jit:8080");
  const host = s.str("host", undefined, HOSTNAME, 'the host name of the JIT helper\'s API (its apiHost), e.g. "jit.home.arpa"');
  const tokenFile = s.str("tokenFile", "/run/secrets/jit_token", /^\/\S+$/, "an absolute path");
  s.close();
  return { url, connect, host, tokenFile };
}

/** @param {string[]} problems @param {unknown} raw @returns {Schedule} */
function readSchedule(problems, raw) {
  /** @type {Schedule} */
  let schedule = { daily: { hour: 3, minute: 0 } };
  if (raw === undefined) return schedule;
  const s = new Section(problems, "schedule", raw);
  const given = ["daily", "everySeconds"].filter((k) => s.obj[k] !== undefined);
  if (given.length !== 1 && isRecord(raw)) s.problem("", 'give exactly one of daily ("HH:MM", local time) and everySeconds');
  const daily = s.str("daily", "", /^([01]\d|2[0-3]):[0-5]\d$/, 'a local time "HH:MM", e.g. "03:00"');
  if (daily) schedule = { daily: { hour: Number(daily.slice(0, 2)), minute: Number(daily.slice(3)) } };
  if (s.obj.everySeconds !== undefined) schedule = { everySeconds: s.seconds("everySeconds", undefined) };
  else s.get("everySeconds");
  s.close();
  return schedule;
}

/**
 * Checks a parsed config and fills in defaults.
 * @param {unknown} raw @param {string[]} problems @returns {Config}
 */
function checkConfig(raw, problems) {
  const top = new Section(problems, "", raw);
  const listen = top.port("listen", 8080);
  const metricsListen = top.port("metricsListen", 9102);
  if (listen === metricsListen && listen !== 0) top.problem("metricsListen", `must differ from listen (both ${listen})`);
  const docker = readEndpoint(top, "dockerApi", "http://socket-proxy:2375").connect;
  const apiHost = top.str("apiHost", undefined, HOSTNAME, 'the host name of the agent\'s API, e.g. "backup.home.arpa"');
  const tokenFile = top.str("tokenFile", "/run/secrets/backup_token", /^\/\S+$/, "an absolute path");
  const service = top.str("service", "backup_agent", DOCKER_NAME, 'the agent\'s own Swarm service, <stack>_<service>, e.g. "backup_agent"');
  const schedule = readSchedule(problems, top.get("schedule"));
  const repository = top.str("repository", undefined, /^\S+$/, 'a restic repository, e.g. "s3:http://minio:9000/restic" or "sftp:core@10.0.0.2:/srv/restic"');
  const resticImage = top.str("resticImage", "restic/restic:0.14.0", /^[a-z0-9][\w./:@-]*$/, 'an image reference, e.g. "restic/restic:0.14.0"');
  const secret = 'the target of a secret the agent\'s own service mounts, e.g. "restic_password"';
  const passwordSecret = targetName(top.str("passwordSecret", undefined, SECRET_TARGET, secret));
  const credentialsSecret = top.optional("credentialsSecret", SECRET_TARGET, secret);
  const sshKeySecret = top.optional("sshKeySecret", SECRET_TARGET, secret);
  const knownHostsSecret = top.optional("knownHostsSecret", SECRET_TARGET, secret);
  if (sshKeySecret && !knownHostsSecret) top.problem("knownHostsSecret", "is required with sshKeySecret: ssh asks about an unknown host, and a job has no one to answer");
  const network = top.optional("network", DOCKER_NAME, "an overlay network's name");
  const rs = new Section(problems, "retention", top.get("retention") ?? {});
  const retention = { daily: rs.count("daily", 7), weekly: rs.count("weekly", 4), monthly: rs.count("monthly", 6) };
  rs.close();
  const jobTimeoutSeconds = top.seconds("jobTimeoutSeconds", 3600);
  const quiesceTimeoutSeconds = top.seconds("quiesceTimeoutSeconds", 120);
  const jitRetrySeconds = top.seconds("jitRetrySeconds", 600);
  const pollSeconds = top.seconds("pollSeconds", 2);
  const jit = readJit(problems, top.get("jit"));
  const keepAwake = top.list("keepAwake").map((s, i) => {
    if (typeof s === "string" && JIT_NAME.test(s)) return s;
    top.problem(`keepAwake[${i}]`, `expected a JIT helper config name "<stack>/<service>", e.g. "minio/minio", got ${shown(s)}`);
    return "";
  });
  if (keepAwake.length && !jit) top.problem("keepAwake", 'needs the jit key, to reach the JIT helper that keeps these awake: add "jit": { "host": "<the helper\'s apiHost>" }, or remove keepAwake if the repository\'s service is not just in time');
  /** @type {VolumeConfig[]} */
  const volumes = top.list("volumes").map((v, i) => {
    const vs = new Section(problems, `volumes[${i}]`, v);
    const swarmVolume = vs.str("swarmVolume", undefined, DOCKER_NAME, 'the volume\'s name in Swarm, e.g. "vaultwarden_data"');
    const node = vs.str("node", undefined, /^[A-Za-z0-9][A-Za-z0-9.-]*$/, "the hostname of the Swarm node that holds the volume");
    const services = vs.list("services").map((s, j) => {
      if (typeof s === "string" && DOCKER_NAME.test(s)) return s;
      vs.problem(`services[${j}]`, `expected a Swarm service's name, e.g. "vaultwarden_vaultwarden", got ${shown(s)}`);
      return "";
    });
    const jitRaw = vs.get("jit");
    if (jitRaw !== undefined && typeof jitRaw !== "boolean") vs.problem("jit", `expected true or false, got ${shown(jitRaw)}`);
    const jitNames = vs.list("jitNames").map((s, j) => {
      if (typeof s === "string" && JIT_NAME.test(s)) return s;
      vs.problem(`jitNames[${j}]`, `expected a JIT helper config name "<stack>/<service>", e.g. "vaultwarden/vaultwarden", got ${shown(s)}`);
      return "";
    });
    if (jitNames.length && jitRaw !== true) vs.problem("jitNames", "is only for a just-in-time volume (jit: true)");
    else if (jit && jitRaw === true && jitNames.length === 0) {
      vs.problem("jitNames", 'is required for a just-in-time volume when the jit key is set: the JIT helper\'s names of its services, e.g. ["vaultwarden/vaultwarden"] (not the Swarm names)');
    }
    vs.close();
    return { swarmVolume, node, services, jit: jitRaw === true, jitNames };
  });
  volumes.forEach((v, i) => {
    const first = volumes.findIndex((o) => o.swarmVolume === v.swarmVolume);
    if (v.swarmVolume && first !== i) problems.push(`volumes[${i}].swarmVolume: ${JSON.stringify(v.swarmVolume)} is already volumes[${first}]; the API and metrics name a volume by it`);
  });
  top.close();
  const target = (/** @type {string | undefined} */ t) => t && targetName(t);
  return { listen, metricsListen, docker, apiHost, tokenFile, service, schedule, repository, resticImage, passwordSecret, credentialsSecret: target(credentialsSecret), sshKeySecret: target(sshKeySecret), knownHostsSecret: target(knownHostsSecret), network, retention, jobTimeoutSeconds, quiesceTimeoutSeconds, jitRetrySeconds, pollSeconds, jit, keepAwake, volumes };
}

/**
 * Reads a bearer token (at least 16 bytes; a trailing newline is ignored). Its problems name `key`.
 * @param {string[]} problems @param {string} key @param {string} file @param {string} what
 */
function readToken(problems, key, file, what) {
  try {
    const secret = Buffer.from(fs.readFileSync(file, "utf8").trim(), "utf8");
    if (secret.length < 16) problems.push(`${key}: ${file} holds ${secret.length} bytes; ${what} must have at least 16`);
    return secret;
  } catch (err) {
    problems.push(`${key}: cannot read ${file}: ${messageOf(err)}`);
    return Buffer.alloc(0);
  }
}

/**
 * Reads the config and the tokens it names; every problem of them all is in the one error.
 * @param {string} path @returns {{ config: Config, token: Buffer, jitToken: Buffer }}
 */
function loadConfig(path) {
  /** @type {unknown} */
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot use the config ${path}: ${messageOf(err)}`);
  }
  /** @type {string[]} */
  const problems = [];
  const config = checkConfig(raw, problems);
  const secret = config.tokenFile ? readToken(problems, "tokenFile", config.tokenFile, "the API token") : Buffer.alloc(0);
  const jitSecret = config.jit && config.jit.tokenFile ? readToken(problems, "jit.tokenFile", config.jit.tokenFile, "the JIT helper's token") : Buffer.alloc(0);
  if (problems.length) throw new Error(`the config ${path}: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  return { config, token: secret, jitToken: jitSecret };
}

// ---------------------------------------------------------------------------------------------
// State.

class Volume {
  /** @param {VolumeConfig} c */
  constructor(c) {
    this.c = c;
    this.lastSuccess = 0;
    this.lastSnapshot = "";
    /** @type {Result | ""} */
    this.lastResult = "";
    this.lastError = "";
    this.lastDurationSeconds = 0;
    this.bytesAdded = 0;
    /** @type {Record<Result, number>} */
    this.runs = { ok: 0, failed: 0, deferred: 0 };
    /** When a deferred JIT volume is tried again (0: not planned). */
    this.retryAt = 0;
    /** @type {{ snapshot: string, result: string, error: string, started: number, finished: number } | null} */
    this.restore = null;
  }
  status() {
    const iso = (/** @type {number} */ t) => (t ? new Date(t).toISOString() : null);
    return {
      swarmVolume: this.c.swarmVolume,
      node: this.c.node,
      services: this.c.services,
      jit: this.c.jit,
      lastSuccess: iso(this.lastSuccess),
      lastSnapshot: this.lastSnapshot || null,
      lastResult: this.lastResult || null,
      lastError: this.lastError || null,
      lastDurationSeconds: this.lastDurationSeconds,
      bytesAdded: this.bytesAdded,
      retryAt: iso(this.retryAt),
      restore: this.restore && { ...this.restore, started: iso(this.restore.started), finished: iso(this.restore.finished) },
    };
  }
}

/** @type {Config} */
let cfg;
/** @type {Buffer} */
let token;
/** @type {Buffer} The JIT helper's API token (empty without the jit config); it goes in its requests' headers only. */
let jitToken = Buffer.alloc(0);
/** @type {Volume[]} */
let volumes = [];
/** @type {Map<string, Volume>} */
const byName = new Map();
/** @type {Op[]} */
const queue = [];
/** @type {Op | null} */
let current = null;
/** Volumes the backup in progress has still to reach: a trigger for one of them is already served. */
const pending = new Set();
let nextRun = 0;
/** @type {NodeJS.Timeout | undefined} */
let scheduleTimer;
/** @type {NodeJS.Timeout | undefined} */
let retryTimer;
let forgetLastSuccess = 0;
let forgetLastError = "";
const startedAt = Date.now();

// ---------------------------------------------------------------------------------------------
// Docker API.

const dockerAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/**
 * One HTTP request; resolves with the status and the body as bytes. An error says whether the
 * request went on a kept-alive socket (`reusedSocket`).
 * @param {http.RequestOptions} options @param {number} timeoutMs @param {Buffer} [payload]
 * @returns {Promise<{ status: number, body: Buffer }>}
 */
function exchange(options, timeoutMs, payload) {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...options, timeout: timeoutMs });
    req.on("response", (res) => {
      /** @type {Buffer[]} */
      const parts = [];
      res.on("data", (c) => parts.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode || 0, body: Buffer.concat(parts) }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    req.end(payload);
  });
}

/**
 * One Docker API call; resolves with the status and the body as bytes. A kept-alive socket that
 * the socket proxy closed meanwhile is retried once on a new one.
 * @param {string} method @param {string} path @param {unknown} [body] @param {boolean} [again]
 * @returns {Promise<{ status: number, body: Buffer }>}
 */
function dockerRaw(method, path, body, again) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = payload ? { "content-type": "application/json", "content-length": payload.length } : {};
  return exchange({ host: cfg.docker.host, port: cfg.docker.port, method, path: API + path, agent: dockerAgent, headers }, DOCKER_TIMEOUT_MS, payload).catch((err) => {
    if (!again && err.reusedSocket && err.code === "ECONNRESET") return dockerRaw(method, path, body, true);
    throw new Error(`Docker API ${method} ${path.split("?")[0]}: ${messageOf(err)}`);
  });
}

/**
 * A Docker API call answered with JSON; a status of 400 or more is an error carrying that status.
 * @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>}
 */
async function docker(method, path, body) {
  const { status, body: bytes } = await dockerRaw(method, path, body);
  const text = bytes.toString("utf8");
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: the message is the text itself.
  }
  if (status < 400) return json;
  const detail = json && typeof json.message === "string" ? json.message : text.slice(0, 200);
  throw Object.assign(new Error(`Docker API ${method} ${path.split("?")[0]}: ${status} ${detail.trim()}`), { status });
}

/** @param {unknown} err */
const notFound = (err) => /** @type {{ status?: number }} */ (err).status === 404;
/** @param {Record<string, string[]>} filters */
const filtersQuery = (filters) => `filters=${encodeURIComponent(JSON.stringify(filters))}`;

/**
 * Sets a service's replicas, sending back its spec as Swarm gave it with only the replicas changed
 * (as the JIT helper does). Returns the replicas it had; -1 when there is no such service.
 * @param {string} name @param {number} target
 */
async function setReplicas(name, target) {
  for (let attempt = 1; ; attempt++) {
    let svc;
    try {
      svc = await docker("GET", `/services/${encodeURIComponent(name)}`);
    } catch (err) {
      if (notFound(err)) return -1;
      throw err;
    }
    const replicated = svc && svc.Spec && svc.Spec.Mode && svc.Spec.Mode.Replicated;
    if (!replicated) throw new Error(`${name} is not a replicated service, so it cannot be stopped by scaling it to 0`);
    const before = Number(replicated.Replicas) || 0;
    if (before === target) return before;
    replicated.Replicas = target;
    try {
      // By name, not ID: the socket filter allows updating exactly the configured services.
      await docker("POST", `/services/${encodeURIComponent(name)}/update?version=${svc.Version.Index}`, svc.Spec);
      log("scale", { service: name, from: before, to: target });
      return before;
    } catch (err) {
      // A deploy updated it between the read and the write: read again.
      if (attempt < 3 && /out of sequence/i.test(messageOf(err))) continue;
      throw err;
    }
  }
}

/** @param {string} name @returns {Promise<number>} the service's replicas; -1 when there is none */
async function replicasOf(name) {
  try {
    const svc = await docker("GET", `/services/${encodeURIComponent(name)}`);
    const replicated = svc && svc.Spec && svc.Spec.Mode && svc.Spec.Mode.Replicated;
    return replicated ? Number(replicated.Replicas) || 0 : 1;
  } catch (err) {
    if (notFound(err)) return -1;
    throw err;
  }
}

/**
 * The tasks of a service (name or ID). All of them, not only those desired running: a task told
 * to shut down keeps its container running until it has stopped, and that is what is waited for.
 * @param {string} service @returns {Promise<any[]>}
 */
async function tasksOf(service) {
  const tasks = await docker("GET", `/tasks?${filtersQuery({ service: [service] })}`);
  return Array.isArray(tasks) ? tasks : [];
}

/** @param {any} task @returns {string} */
const stateOf = (task) => String((task && task.Status && task.Status.State) || "");

// ---------------------------------------------------------------------------------------------
// The JIT helper's API (config `jit`): holding just-in-time services asleep around a job, and
// keeping the repository's awake around an operation (config `keepAwake`).

/**
 * One request to the JIT helper's API, on its apiHost with its token. Resolves with the status,
 * the body parsed as JSON (null if it is not) and the error it gave (empty below 300); rejects,
 * naming the helper's URL, when it does not answer.
 * @param {string} method @param {string} path @returns {Promise<{ status: number, json: any, error: string }>}
 */
async function jitRequest(method, path) {
  const jit = /** @type {JitConfig} */ (cfg.jit);
  const headers = { host: jit.host, authorization: `Bearer ${jitToken.toString("utf8")}`, "content-length": 0 };
  let reply;
  try {
    reply = await exchange({ host: jit.connect.host, port: jit.connect.port, method, path, agent: false, headers }, JIT_TIMEOUT_MS);
  } catch (err) {
    throw new Error(`the JIT helper at ${jit.url} did not answer ${method} ${path}: ${messageOf(err)}`);
  }
  const text = reply.body.toString("utf8");
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: the text itself is the error.
  }
  const error = json && typeof json.error === "string" ? json.error : text.slice(0, 200).trim();
  return { status: reply.status, json, error: reply.status < 300 ? "" : error };
}

/**
 * A POST to the JIT helper's API about one of its services.
 * @param {"hold" | "release" | "stop" | "keepawake"} action @param {string} name @param {string} [query]
 */
function jitCall(action, name, query = "") {
  // The name's slash as %2F: the helper's config name, not a path.
  return jitRequest("POST", `/api/${action}/${encodeURIComponent(name)}${query}`);
}

/** @param {string} name @param {string} what @param {{ status: number, error: string }} r */
const jitRefused = (name, what, r) => new Error(`the JIT helper at ${/** @type {JitConfig} */ (cfg.jit).url} answered ${r.status} to ${what} ${name}${r.error ? `: ${r.error}` : ""}`);

/**
 * Asks the JIT helper to hold the volume's JIT services asleep for `seconds` (capped at its
 * maximum), adding each one held to `held`. For a restore (`stopFirst`), each is stopped first
 * (force: even in use), then held; a wake between the two is tried again twice. Resolves with
 * false when a backup finds one not asleep (409); throws on any other answer or no answer. The
 * caller releases what is in `held` in every case.
 * @param {Volume} vol @param {number} seconds @param {boolean} stopFirst @param {string[]} held
 */
async function holdJit(vol, seconds, stopFirst, held) {
  const holdSeconds = Math.min(Math.ceil(seconds), MAX_HOLD_SECONDS);
  for (const name of vol.c.jitNames) {
    for (let attempt = 1; ; attempt++) {
      if (stopFirst) {
        const stopped = await jitCall("stop", name, "?force=true");
        if (stopped.status !== 200) throw jitRefused(name, "stopping", stopped);
        log("jit-stop", { volume: vol.c.swarmVolume, service: name });
      }
      const r = await jitCall("hold", name, `?seconds=${holdSeconds}`);
      if (r.status === 200) {
        held.push(name);
        log("jit-hold", { volume: vol.c.swarmVolume, service: name, seconds: holdSeconds });
        break;
      }
      if (r.status !== 409) throw jitRefused(name, "holding", r);
      if (!stopFirst) {
        log("jit-awake", { volume: vol.c.swarmVolume, service: name, error: r.error });
        return false;
      }
      if (attempt === 3) throw jitRefused(name, `holding (woken again after each of ${attempt} stops)`, r);
    }
  }
  return true;
}

/**
 * Releases the holds or keep-awake leases taken, each one even if another fails. A release that
 * fails is logged: the hold or lease then ends at its time.
 * @param {string[]} held @param {Record<string, string>} fields what the logs say it was for
 */
async function releaseJit(held, fields) {
  for (const name of held) {
    try {
      const r = await jitCall("release", name);
      if (r.status !== 200) throw jitRefused(name, "releasing", r);
      log("jit-release", { ...fields, service: name });
    } catch (err) {
      log("jit-release-failed", { ...fields, service: name, error: messageOf(err) });
    }
  }
}

/** The repository's JIT services (keepAwake) the helper keeps awake for the operation in progress, and until when (ms). */
const lease = { names: /** @type {string[]} */ ([]), until: 0 };

/**
 * Has the JIT helper keep the repository's services awake for `seconds` (at most its longest
 * lease), and waits until it reports each one awake, up to quiesceTimeoutSeconds. Each service it
 * accepted is released by releaseRepository, whatever happens next. Throws, naming the helper
 * and the service, when one cannot be woken. Nothing to do without keepAwake.
 * @param {number} seconds
 */
async function keepRepositoryAwake(seconds) {
  const n = Math.min(Math.ceil(seconds), MAX_HOLD_SECONDS);
  const asked = Date.now();
  /** @type {string[]} */
  const waking = [];
  for (const name of cfg.keepAwake) {
    const r = await jitCall("keepawake", name, `?seconds=${n}`);
    if (r.status !== 200 && r.status !== 202) throw jitRefused(name, "keeping awake", r);
    if (!lease.names.includes(name)) lease.names.push(name);
    log("jit-keepawake", { service: name, seconds: n, awake: r.status === 200 });
    if (r.status === 202) waking.push(name);
  }
  lease.until = asked + n * 1000;
  const deadline = asked + cfg.quiesceTimeoutSeconds * 1000;
  while (waking.length) {
    const r = await jitRequest("GET", "/api/status");
    /** @type {any[]} */
    const list = r.json && Array.isArray(r.json.services) ? r.json.services : [];
    if (r.status !== 200) throw jitRefused("its services", "listing", r);
    for (const name of [...waking]) {
      const state = list.find((s) => s && s.name === name);
      if (state && state.state === "awake") waking.splice(waking.indexOf(name), 1);
      else if (Date.now() >= deadline) {
        const seen = state ? `${state.state}${state.lastError ? `: ${state.lastError}` : ""}` : "not in its status";
        throw new Error(`the JIT helper at ${/** @type {JitConfig} */ (cfg.jit).url} did not report ${name} awake within ${cfg.quiesceTimeoutSeconds} s (quiesceTimeoutSeconds); it is ${seen}`);
      }
    }
    if (waking.length) await sleep(cfg.pollSeconds * 1000);
  }
}

/** Ends the keep-awake leases of the operation that ends. */
async function releaseRepository() {
  const names = lease.names.splice(0);
  lease.until = 0;
  await releaseJit(names, { for: "repository" });
}

/**
 * A volume whose JIT services serve the repository cannot be backed up or restored: they would
 * have to sleep while they are kept awake for the job. The reason, or "" for any other volume.
 * @param {Volume} vol
 */
function servesRepository(vol) {
  const both = vol.c.jitNames.filter((n) => cfg.keepAwake.includes(n));
  if (both.length === 0) return "";
  return `keepAwake and this volume's jitNames both name ${both.join(", ")}: it serves the repository, so it cannot sleep for its own volume's backup or restore. Fix: leave this volume out of the backups (homelab:platform.backup.exclude), or use a repository elsewhere`;
}

// ---------------------------------------------------------------------------------------------
// Stopping and starting a volume's services.

/**
 * Stops the volume's services: records each one's replicas, scales those above 0 to 0 and waits
 * until none of their containers runs. A JIT volume whose service is awake is left alone
 * ("deferred") unless `force` (a restore). On failure, what was stopped is started again.
 * @param {Volume} vol @param {boolean} force @returns {Promise<Scaled[] | "deferred">}
 */
async function quiesce(vol, force) {
  if (vol.c.jit && !force) {
    for (const name of vol.c.services) if ((await replicasOf(name)) > 0) return "deferred";
  }
  /** @type {Scaled[]} */
  const scaled = [];
  try {
    for (const name of vol.c.services) {
      const before = await setReplicas(name, 0);
      if (before < 0) log("service-missing", { volume: vol.c.swarmVolume, service: name });
      if (before > 0) scaled.push({ name, replicas: before });
    }
    const deadline = Date.now() + cfg.quiesceTimeoutSeconds * 1000;
    for (const name of vol.c.services) {
      for (;;) {
        const live = (await tasksOf(name)).filter((t) => LIVE_STATES.has(stateOf(t)));
        if (live.length === 0) break;
        if (Date.now() > deadline) throw new Error(`${name} still has ${live.length} task(s) running ${cfg.quiesceTimeoutSeconds} s after it was scaled to 0`);
        await sleep(cfg.pollSeconds * 1000);
      }
    }
  } catch (err) {
    await resume(vol, scaled).catch(noop);
    throw err;
  }
  return scaled;
}

/**
 * Gives the services back the replicas they had; tries each one three times, and throws at the
 * end if any could not be started.
 * @param {Volume} vol @param {Scaled[]} scaled
 */
async function resume(vol, scaled) {
  /** @type {string[]} */
  const failed = [];
  for (const s of scaled) {
    for (let attempt = 1; ; attempt++) {
      try {
        await setReplicas(s.name, s.replicas);
        break;
      } catch (err) {
        if (attempt < 3) {
          await sleep(cfg.pollSeconds * 1000);
          continue;
        }
        log("resume-failed", { volume: vol.c.swarmVolume, service: s.name, replicas: s.replicas, error: messageOf(err) });
        failed.push(`${s.name} (${messageOf(err)})`);
        break;
      }
    }
  }
  if (failed.length) throw new Error(`could not give back the replicas of ${failed.join(", ")}; it stays at 0 until scaled by hand or redeployed`);
}

// ---------------------------------------------------------------------------------------------
// Jobs: restic (or busybox, to empty a volume) as a Swarm replicated-job service.

/** The secrets a restic job gets, as [config key, target in the agent's service, file in the job, its mode]. */
function resticSecrets() {
  /** @type {Array<[string, string, string, number]>} */
  const list = [["passwordSecret", cfg.passwordSecret, PASSWORD_FILE, 0o400]];
  if (cfg.credentialsSecret) list.push(["credentialsSecret", cfg.credentialsSecret, CREDENTIALS_FILE, 0o400]);
  if (cfg.sshKeySecret) list.push(["sshKeySecret", cfg.sshKeySecret, "/root/.ssh/id_ed25519", 0o400]);
  if (cfg.knownHostsSecret) list.push(["knownHostsSecret", cfg.knownHostsSecret, "/root/.ssh/known_hosts", 0o444]);
  return list;
}

/**
 * The job's secret references, taken from the agent's own service: the platform names secrets by
 * their content, so their names are unknown when this config is written, and change on every
 * rotation (which redeploys the agent too). Read afresh for every job. Throws naming each config
 * key whose target the service does not mount, with the fix.
 */
async function jobSecrets() {
  let own;
  try {
    own = await docker("GET", `/services/${encodeURIComponent(cfg.service)}`);
  } catch (err) {
    if (notFound(err)) throw new Error(`service: there is no Swarm service ${cfg.service}; set service to the agent's own Swarm service, <stack>_<service> (e.g. "backup_agent")`);
    throw err;
  }
  const spec = own && own.Spec && own.Spec.TaskTemplate && own.Spec.TaskTemplate.ContainerSpec;
  /** @type {any[]} */
  const mounted = spec && Array.isArray(spec.Secrets) ? spec.Secrets : [];
  const targets = mounted.map((m) => targetName(String((m && m.File && m.File.Name) || "")));
  /** @type {string[]} */
  const missing = [];
  const refs = resticSecrets().map(([key, target, file, mode]) => {
    const ref = mounted[targets.indexOf(target)];
    if (!ref) missing.push(`${key}: the agent's service ${cfg.service} mounts no secret with target ${target} (its targets: ${targets.join(", ") || "none"}). Fix: mount it there (compose: secrets: - source: <the secret>, target: ${target}, mode: 0400), or set ${key} to the target it has`);
    return ref && { SecretID: String(ref.SecretID), SecretName: String(ref.SecretName), File: { Name: file, UID: "0", GID: "0", Mode: mode } };
  });
  if (missing.length) throw new Error(missing.join("; "));
  return refs;
}

/**
 * @typedef {{ args: string[], command?: string[], volume?: string, readOnly?: boolean, node?: string, restic: boolean }} JobRequest
 * @param {string} name @param {string} subject @param {JobRequest} r
 */
async function jobSpec(name, subject, r) {
  /** @type {Record<string, unknown>} */
  const container = { Image: cfg.resticImage, Args: r.args, Labels: { [JOB_LABEL]: subject } };
  if (r.command) container.Command = r.command;
  if (r.restic) {
    const env = [`RESTIC_REPOSITORY=${cfg.repository}`, `RESTIC_PASSWORD_FILE=${PASSWORD_FILE}`];
    if (cfg.credentialsSecret) env.push(`AWS_SHARED_CREDENTIALS_FILE=${CREDENTIALS_FILE}`);
    container.Env = env;
    container.Secrets = await jobSecrets();
  }
  if (r.volume) container.Mounts = [{ Type: "volume", Source: r.volume, Target: `/data/${r.volume}`, ReadOnly: r.readOnly !== false }];
  /** @type {Record<string, unknown>} */
  const template = { ContainerSpec: container, RestartPolicy: { Condition: "none" } };
  if (r.node) template.Placement = { Constraints: [`node.hostname == ${r.node}`] };
  if (cfg.network) template.Networks = [{ Target: cfg.network }];
  return {
    Name: name,
    Labels: { [JOB_LABEL]: subject },
    TaskTemplate: template,
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  };
}

/**
 * Docker's log stream of a service without a TTY: frames of an 8-byte header (stream 1 or 2, three
 * zero bytes, the payload's size big-endian) and the payload. Anything else is taken as plain text.
 * @param {Buffer} buf @returns {{ stdout: string, stderr: string }}
 */
function demux(buf) {
  /** @type {Buffer[][]} */
  const streams = [[], []];
  let i = 0;
  while (i + 8 <= buf.length && buf[i] <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    streams[buf[i] === 2 ? 1 : 0].push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i < buf.length) streams[0].push(buf.subarray(i));
  return { stdout: Buffer.concat(streams[0]).toString("utf8"), stderr: Buffer.concat(streams[1]).toString("utf8") };
}

/**
 * Runs one job to its end and removes it (always). Resolves with how it ended and its output;
 * rejects only when it could not be created or did not end within jobTimeoutSeconds.
 * @param {string} kind @param {string} subject @param {JobRequest} r @param {(o: { stdout: string, stderr: string }) => boolean} [complete]
 * @returns {Promise<JobOutcome>}
 */
async function runJob(kind, subject, r, complete) {
  // Service names: at most 63 characters of [A-Za-z0-9_-] (11 + 7 + 1 + 33 + 1 + 10). The job is
  // then named in every call about it (tasks, logs, removal): the socket filter allows those by
  // the name's prefix.
  const name = `${JOB_PREFIX}${kind}-${subject.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 33)}-${Math.floor(Date.now() / 1000)}`;
  // A lease capped at the helper's longest may end before a long operation does: renewed before a
  // job that could outlast it.
  if (lease.names.length && lease.until - Date.now() < cfg.jobTimeoutSeconds * 1000) await keepRepositoryAwake(cfg.jobTimeoutSeconds + 60);
  const spec = await jobSpec(name, subject, r);
  const created = await docker("POST", "/services/create", spec);
  log("job-start", { job: name, id: created && created.ID, node: r.node, args: (r.command || []).concat(r.args).join(" ") });
  try {
    const deadline = Date.now() + cfg.jobTimeoutSeconds * 1000;
    let task;
    for (;;) {
      task = (await tasksOf(name)).find((t) => DONE_STATES.has(stateOf(t)));
      if (task) break;
      if (Date.now() > deadline) throw new Error(`${kind} job ${name} did not end within ${cfg.jobTimeoutSeconds} s`);
      await sleep(cfg.pollSeconds * 1000);
    }
    // Logs reach the manager a little after the task ends: read again while what is expected is missing.
    let out = { stdout: "", stderr: "" };
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { status, body } = await dockerRaw("GET", `/services/${name}/logs?stdout=1&stderr=1`);
      if (status < 400) out = demux(body);
      if (!complete || complete(out) || attempt === 3) break;
      await sleep(cfg.pollSeconds * 1000);
    }
    const status = task.Status || {};
    const exit = status.ContainerStatus && typeof status.ContainerStatus.ExitCode === "number" ? status.ContainerStatus.ExitCode : stateOf(task) === "complete" ? 0 : -1;
    const outcome = { state: stateOf(task), exitCode: exit, ...out, lines: `${out.stdout}\n${out.stderr}`.split("\n").filter((l) => l.trim()), error: String(status.Err || "") };
    log("job-end", { job: name, state: outcome.state, exitCode: exit, error: outcome.error || undefined });
    return outcome;
  } finally {
    await docker("DELETE", `/services/${name}`).catch((err) => {
      if (!notFound(err)) log("job-remove-failed", { job: name, error: messageOf(err) });
    });
  }
}

/** @param {JobOutcome} o */
const succeeded = (o) => o.state === "complete" && o.exitCode === 0;

/** Why a job failed, with the last lines it printed (restic's error is there). @param {string} what @param {JobOutcome} o */
function failure(what, o) {
  const tail = o.lines.filter((l) => !l.startsWith("{")).slice(-2).map((l) => l.slice(0, 300)).join(" | ");
  return `${what} ${o.state}${o.exitCode >= 0 ? ` (exit ${o.exitCode})` : ""}${o.error ? `: ${o.error}` : ""}${tail ? `: ${tail}` : ""}`;
}

/** The latest snapshot of each host and path, as one line of JSON: the repository check, and what learnSnapshots reads. */
const SNAPSHOTS_JOB = { args: ["snapshots", "--json", "--latest", "1"], restic: true };
/** @param {{ stdout: string }} out */
const hasList = (out) => out.stdout.split("\n").some((l) => l.startsWith("["));

/**
 * Takes each volume's last good backup from the repository's latest snapshots, so that a
 * restarted agent reports them, not 0. The agent backs a volume up as `/data/<swarmVolume>` with
 * `--host <node>`, which restic's `--latest 1` groups by. A snapshot newer than what the agent
 * knows becomes the volume's last success (its time is when that backup started). Output that
 * cannot be read is logged; the backups go on all the same.
 * @param {JobOutcome} o
 */
function learnSnapshots(o) {
  /** @type {unknown} */
  let list;
  try {
    list = JSON.parse(o.stdout.split("\n").find((l) => l.startsWith("[")) || "");
  } catch {
    // Not a list: reported below.
  }
  if (!Array.isArray(list)) {
    log("repository-read-failed", { error: "restic snapshots --json printed no list of snapshots" });
    return;
  }
  for (const vol of volumes) {
    const path = `/data/${vol.c.swarmVolume}`;
    for (const snap of list) {
      if (!snap || snap.hostname !== vol.c.node || !Array.isArray(snap.paths) || snap.paths.length !== 1 || snap.paths[0] !== path) continue;
      // restic writes nanoseconds; milliseconds are all Date needs (and all older parsers take).
      const time = Date.parse(String(snap.time).replace(/(\.\d{3})\d+/, "$1"));
      if (!(time > vol.lastSuccess)) continue;
      vol.lastSuccess = time;
      vol.lastSnapshot = String(snap.id);
    }
  }
  log("repository-read", { snapshots: list.length, volumes: volumes.map((v) => `${v.c.swarmVolume}=${v.lastSuccess ? new Date(v.lastSuccess).toISOString() : "none"}`).join(",") });
}

/** Makes sure the repository exists: `snapshots`, and `init` if restic finds no repository. */
async function ensureRepository() {
  const check = await runJob("check", "repository", SNAPSHOTS_JOB, hasList);
  if (succeeded(check)) return learnSnapshots(check);
  if (!check.lines.some((l) => l.includes(NO_REPOSITORY))) throw new Error(failure("the repository check (restic snapshots)", check));
  log("repository-init", {});
  const init = await runJob("init", "repository", { args: ["init"], restic: true });
  if (!succeeded(init)) throw new Error(failure("restic init", init));
}

/** @param {JobOutcome} o */
const summaryOf = (o) => {
  for (const line of o.lines) {
    if (!line.startsWith("{")) continue;
    try {
      const v = JSON.parse(line);
      if (v && v.message_type === "summary") return v;
    } catch {
      // A status line cut short, or not JSON.
    }
  }
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// Backups and restores.

/** @param {Volume} vol @param {Result} result @param {number} started @param {string} [error] */
function record(vol, result, started, error) {
  vol.lastResult = result;
  vol.lastError = error || "";
  vol.runs[result]++;
  if (result !== "deferred") vol.lastDurationSeconds = Math.round((Date.now() - started) / 100) / 10;
  log("backup-end", { volume: vol.c.swarmVolume, node: vol.c.node, result, error, seconds: vol.lastDurationSeconds, snapshot: result === "ok" ? vol.lastSnapshot : undefined });
}

/** With the jit config, a just-in-time volume's services are held asleep by the JIT helper around its job. @param {Volume} vol */
const usesJitHelper = (vol) => vol.c.jit && cfg.jit !== undefined;

/**
 * Backs one volume up. A just-in-time one is held asleep through the JIT helper (when configured)
 * from before its services are checked until after the job is removed; the holds are released
 * whatever happened.
 * @param {Volume} vol
 */
async function backupVolume(vol) {
  const started = Date.now();
  /** @type {string[]} */
  const held = [];
  /** @type {{ result: Result, error?: string }} */
  let outcome;
  try {
    const conflict = servesRepository(vol);
    if (conflict) throw new Error(conflict);
    const asleep = !usesJitHelper(vol) || (await holdJit(vol, cfg.jobTimeoutSeconds + cfg.quiesceTimeoutSeconds + 60, false, held));
    outcome = asleep ? await stopAndBackUp(vol) : { result: "deferred", error: `the JIT helper found a service of this just-in-time volume awake; tried again in ${cfg.jitRetrySeconds} s` };
  } catch (err) {
    outcome = { result: "failed", error: messageOf(err) };
  }
  await releaseJit(held, { volume: vol.c.swarmVolume });
  if (outcome.result === "ok") vol.lastSuccess = Date.now();
  record(vol, outcome.result, started, outcome.error);
}

/**
 * Stops the volume's services, runs its backup job and starts them again.
 * @param {Volume} vol @returns {Promise<{ result: Result, error?: string }>}
 */
async function stopAndBackUp(vol) {
  const path = `/data/${vol.c.swarmVolume}`;
  const scaled = await quiesce(vol, false);
  if (scaled === "deferred") return { result: "deferred", error: `a service of this just-in-time volume is awake; tried again in ${cfg.jitRetrySeconds} s` };
  let error = "";
  try {
    const args = ["backup", "--host", vol.c.node, "--tag", `volume=${vol.c.swarmVolume}`, "--json", path];
    const o = await runJob("backup", vol.c.swarmVolume, { args, volume: vol.c.swarmVolume, readOnly: true, node: vol.c.node, restic: true }, (out) => out.stdout.includes('"summary"'));
    const summary = summaryOf(o);
    if (!succeeded(o)) error = failure("restic backup", o);
    else if (o.lines.some((l) => l.includes(MISSING_PATH))) error = `restic found no ${path} in the job ("${MISSING_PATH}")`;
    else if (!summary || typeof summary.snapshot_id !== "string") error = "restic printed no summary with a snapshot_id";
    else if (summary.total_files_processed === 0) error = `${path} is empty: nothing to back up (Docker creates a volume that does not exist on ${vol.c.node} empty, so this may be the wrong node)`;
    else {
      vol.lastSnapshot = summary.snapshot_id;
      vol.bytesAdded = Number(summary.data_added) || 0;
    }
    // A JIT service woken while the job read the volume (the JIT helper scales it up on a request).
    if (!error && vol.c.jit) {
      for (const name of vol.c.services) if ((await replicasOf(name)) > 0) error = `${name} woke during the backup, so snapshot ${summary.snapshot_id} may be inconsistent`;
    }
  } catch (err) {
    error = messageOf(err);
  }
  try {
    await resume(vol, scaled);
  } catch (err) {
    error = error ? `${error}; ${messageOf(err)}` : messageOf(err);
  }
  return error ? { result: "failed", error } : { result: "ok" };
}

async function forget() {
  const r = cfg.retention;
  // Grouped by node and volume tag, the identity of a volume's backups (restic groups by host and
  // paths by default, which would split a volume's history if its path ever changed).
  const args = ["forget", "--prune", "--group-by", "host,tags", "--keep-daily", String(r.daily), "--keep-weekly", String(r.weekly), "--keep-monthly", String(r.monthly)];
  try {
    const o = await runJob("forget", "repository", { args, restic: true });
    if (!succeeded(o)) throw new Error(failure("restic forget --prune", o));
    forgetLastSuccess = Date.now();
    forgetLastError = "";
    log("forget-end", { result: "ok" });
  } catch (err) {
    forgetLastError = messageOf(err);
    log("forget-end", { result: "failed", error: forgetLastError });
  }
}

/** @param {BackupOp} op */
async function backupRun(op) {
  const list = volumes.filter((v) => !op.volumes || op.volumes.has(v.c.swarmVolume));
  for (const v of list) pending.add(v.c.swarmVolume);
  log("run-start", { reason: op.reason, volumes: list.map((v) => v.c.swarmVolume).join(",") });
  let repositoryError = "";
  try {
    // Every job of the run may take jobTimeoutSeconds (the check, an init, one per volume, the
    // forget), and every volume's services quiesceTimeoutSeconds to stop.
    await keepRepositoryAwake((list.length + 3) * cfg.jobTimeoutSeconds + list.length * cfg.quiesceTimeoutSeconds + 60);
    await ensureRepository();
  } catch (err) {
    repositoryError = messageOf(err);
    log("repository-failed", { error: repositoryError });
  }
  try {
    for (const vol of list) {
      pending.delete(vol.c.swarmVolume);
      vol.retryAt = 0;
      if (repositoryError) record(vol, "failed", Date.now(), repositoryError);
      else await backupVolume(vol);
    }
    const r = cfg.retention;
    if (op.forget && !repositoryError && r.daily + r.weekly + r.monthly > 0) await forget();
  } finally {
    await releaseRepository();
  }
  planRetry(list.filter((v) => v.lastResult === "deferred"));
  log("run-end", { reason: op.reason, results: list.map((v) => `${v.c.swarmVolume}=${v.lastResult}`).join(",") });
}

/**
 * Deferred JIT volumes are tried again after jitRetrySeconds, as long as that comes before the
 * next scheduled run (which tries them anyway).
 * @param {Volume[]} deferred
 */
function planRetry(deferred) {
  if (deferred.length === 0) return;
  const at = Date.now() + cfg.jitRetrySeconds * 1000;
  if (at >= nextRun) return;
  for (const v of deferred) v.retryAt = at;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    const due = volumes.filter((v) => v.retryAt && v.retryAt <= Date.now() + 50);
    if (due.length) trigger({ kind: "backup", volumes: new Set(due.map((v) => v.c.swarmVolume)), forget: false, reason: "retry" });
  }, at - Date.now());
}

/**
 * The full ID of the snapshot a restore of `vol` means: its latest (by its node and tag) or the one
 * named, which must be this volume's (its tag, node and path). Throws, naming what was found.
 * @param {Volume} vol @param {string} wanted "latest" or an ID (prefix)
 */
async function snapshotOf(vol, wanted) {
  const tag = `volume=${vol.c.swarmVolume}`;
  const args = wanted === "latest" ? ["snapshots", "--json", "--latest", "1", "--host", vol.c.node, "--tag", tag] : ["snapshots", "--json", wanted];
  const o = await runJob("check", vol.c.swarmVolume, { args, restic: true }, hasList);
  /** @type {unknown} */
  let list;
  try {
    list = JSON.parse(o.stdout.split("\n").find((l) => l.startsWith("[")) || "");
  } catch {
    // Not a list: reported below.
  }
  if (!Array.isArray(list)) throw new Error(failure(`looking up snapshot ${wanted} (restic snapshots)`, o));
  const path = `/data/${vol.c.swarmVolume}`;
  if (list.length === 0) {
    throw new Error(wanted === "latest" ? `the repository holds no snapshot of ${vol.c.swarmVolume} from ${vol.c.node}; nothing was stopped or emptied` : `no snapshot ${wanted} in the repository; nothing was stopped or emptied. Fix: pick one of this volume's (restic snapshots --tag ${tag})`);
  }
  const snap = list[list.length - 1];
  const mine = snap && Array.isArray(snap.tags) && snap.tags.includes(tag) && snap.hostname === vol.c.node && Array.isArray(snap.paths) && snap.paths.length === 1 && snap.paths[0] === path;
  if (!mine) {
    throw new Error(`snapshot ${wanted} is not a backup of ${vol.c.swarmVolume} on ${vol.c.node} (it is of ${JSON.stringify(snap?.paths)} on ${snap?.hostname}, tags ${JSON.stringify(snap?.tags ?? [])}); nothing was stopped or emptied. Fix: pick one of this volume's snapshots (restic snapshots --tag ${tag})`);
  }
  return String(snap.id);
}

/** @param {RestoreOp} op */
async function restoreRun(op) {
  const vol = /** @type {Volume} */ (byName.get(op.volume));
  const path = `/data/${vol.c.swarmVolume}`;
  const state = { snapshot: op.snapshot, result: "running", error: "", started: Date.now(), finished: 0 };
  vol.restore = state;
  log("restore-start", { volume: vol.c.swarmVolume, node: vol.c.node, snapshot: op.snapshot });
  /** @type {Scaled[] | null} */
  let scaled = null;
  /** @type {string[]} */
  const held = [];
  const holdSeconds = Math.min(2 * cfg.jobTimeoutSeconds + cfg.quiesceTimeoutSeconds + 60, MAX_HOLD_SECONDS);
  /** @type {unknown} */
  let failed = null;
  try {
    const conflict = servesRepository(vol);
    if (conflict) throw new Error(conflict);
    // The restore job's secrets are checked before anything is stopped or emptied: a missing one
    // found only at that job would leave the volume empty.
    await jobSecrets();
    // The repository is awake before the app is stopped: if it cannot be woken, nothing is touched.
    await keepRepositoryAwake(2 * cfg.jobTimeoutSeconds + cfg.quiesceTimeoutSeconds + 60);
    // The snapshot is found, and is this volume's, before anything is stopped or emptied: a wrong
    // ID (or another volume's) must not cost the volume its data.
    const snapshot = await snapshotOf(vol, op.snapshot);
    state.snapshot = snapshot;
    // Stopped by the JIT helper even if awake, and held asleep: released afterwards, it stays
    // asleep until the next request wakes it on the restored data.
    if (usesJitHelper(vol)) await holdJit(vol, holdSeconds, true, held);
    scaled = /** @type {Scaled[]} */ (await quiesce(vol, true));
    // The path is a positional parameter of the script, never part of it. No `find -delete`:
    // Debian's busybox (the lab's image) lacks it; `-exec rm -rf {} +` works in every busybox.
    const empty = await runJob("empty", vol.c.swarmVolume, { command: ["/bin/sh", "-c", 'find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +', "sh", path], args: [], volume: vol.c.swarmVolume, readOnly: false, node: vol.c.node, restic: false });
    if (!succeeded(empty)) throw new Error(failure("emptying the volume", empty));
    // The ID snapshotOf found: a backup made meanwhile does not change what "latest" restores.
    const args = ["restore", state.snapshot, "--target", "/", "--include", path];
    const restored = await runJob("restore", vol.c.swarmVolume, { args, volume: vol.c.swarmVolume, readOnly: false, node: vol.c.node, restic: true });
    if (!succeeded(restored)) throw new Error(failure("restic restore", restored));
  } catch (err) {
    failed = err;
  }
  await releaseRepository();
  if (failed) {
    // Services are not started on a volume that may now be empty or half restored, and JIT ones
    // stay held (no wake) until the hold ends.
    const stopped = (scaled || []).map((s) => `${s.name} (had ${s.replicas})`);
    const until = new Date(state.started + holdSeconds * 1000).toISOString();
    state.result = "failed";
    state.error = [messageOf(failed), stopped.length ? `left stopped: ${stopped.join(", ")}` : "", held.length ? `held asleep by the JIT helper until about ${until}: ${held.join(", ")}` : ""].filter(Boolean).join("; ");
    state.finished = Date.now();
    log("restore-end", { volume: vol.c.swarmVolume, result: "failed", error: state.error });
    return;
  }
  await releaseJit(held, { volume: vol.c.swarmVolume });
  try {
    await resume(vol, /** @type {Scaled[]} */ (scaled));
    state.result = "ok";
  } catch (err) {
    state.result = "failed";
    state.error = messageOf(err);
  }
  state.finished = Date.now();
  log("restore-end", { volume: vol.c.swarmVolume, result: state.result, error: state.error || undefined });
}

/**
 * At start: the last good backups as the repository has them. One that cannot be read is logged
 * and read again by the next run's repository check.
 */
async function snapshotsRun() {
  /** @type {JobOutcome | undefined} */
  let check;
  let error = "";
  try {
    await keepRepositoryAwake(cfg.jobTimeoutSeconds + 60);
    check = await runJob("check", "repository", SNAPSHOTS_JOB, hasList);
    if (!succeeded(check)) error = failure("restic snapshots", check);
  } catch (err) {
    error = messageOf(err);
  }
  // Released first: what is logged next marks the end of this operation.
  await releaseRepository();
  if (error || !check) log("repository-read-failed", { error, retry: "at the next run" });
  else learnSnapshots(check);
}

/**
 * Queues an operation; one runs at a time. A backup asked while one waits is merged into it, and
 * one for volumes the backup in progress has yet to reach is already served.
 * @param {Op} op @returns {"started" | "queued" | "already running"}
 */
function trigger(op) {
  if (op.kind === "backup") {
    const names = op.volumes ? [...op.volumes] : volumes.map((v) => v.c.swarmVolume);
    if (current && current.kind === "backup" && (!op.forget || current.forget) && names.every((n) => pending.has(n))) return "already running";
    const waiting = /** @type {BackupOp | undefined} */ (queue.find((q) => q.kind === "backup"));
    if (waiting) {
      waiting.volumes = waiting.volumes && op.volumes ? new Set([...waiting.volumes, ...op.volumes]) : null;
      waiting.forget = waiting.forget || op.forget;
      return "queued";
    }
  }
  queue.push(op);
  if (current) return "queued";
  void drain();
  return "started";
}

async function drain() {
  while (!current && queue.length) {
    current = /** @type {Op} */ (queue.shift());
    try {
      if (current.kind === "backup") await backupRun(current);
      else if (current.kind === "restore") await restoreRun(current);
      else await snapshotsRun();
    } catch (err) {
      log("run-failed", { error: messageOf(err) });
    } finally {
      pending.clear();
      current = null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Schedule.

/**
 * Two schedule intervals: one missed run is tolerated (a node down for the night), two are not.
 * Alert rules compare backup_last_success_timestamp_seconds with it.
 */
function maxAgeSeconds() {
  const s = cfg.schedule;
  return 2 * ("everySeconds" in s ? s.everySeconds : 86400);
}

/** @param {number} after @returns {number} the next scheduled run after `after` */
function nextTime(after) {
  const s = cfg.schedule;
  if ("everySeconds" in s) return after + s.everySeconds * 1000;
  const d = new Date(after);
  d.setHours(s.daily.hour, s.daily.minute, 0, 0);
  if (d.getTime() <= after) d.setDate(d.getDate() + 1);
  return d.getTime();
}

function armSchedule() {
  clearTimeout(scheduleTimer);
  // Timers longer than 2^31 ms fire at once; a long wait is cut into pieces.
  scheduleTimer = setTimeout(
    () => {
      if (Date.now() < nextRun) return armSchedule();
      nextRun = nextTime(Math.max(nextRun, Date.now() - 1));
      trigger({ kind: "backup", volumes: null, forget: true, reason: "schedule" });
      armSchedule();
    },
    Math.min(Math.max(nextRun - Date.now(), 0), 0x7fffffff),
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP: the API on apiHost, /healthz, and /metrics on its own port.

/** @param {http.ServerResponse} res @param {number} status @param {unknown} value */
function send(res, status, value) {
  const body = typeof value === "string" ? value : `${JSON.stringify(value, null, 2)}\n`;
  const type = typeof value === "string" ? "text/plain; charset=utf-8" : "application/json";
  const headers = { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" };
  if (status === 401) Object.assign(headers, { "www-authenticate": 'Bearer realm="backup"' });
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The Bearer token, compared in constant time: every byte of the expected token is read whatever
 * was sent (no crypto module: it costs memory on Node 18, as in the JIT helper).
 * @param {http.IncomingMessage} req
 */
function tokenMatches(req) {
  const m = /^bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization || ""));
  const given = Buffer.from(m ? m[1] : "", "utf8");
  let diff = m ? given.length ^ token.length : 1;
  for (let i = 0; i < token.length; i++) diff |= token[i] ^ (given.length ? given[i % given.length] : 0);
  return diff === 0;
}

function statusBody() {
  return {
    running: current ? { kind: current.kind, reason: current.reason, volume: current.kind === "restore" ? current.volume : undefined } : null,
    queued: queue.length,
    nextRun: new Date(nextRun).toISOString(),
    forget: { lastSuccess: forgetLastSuccess ? new Date(forgetLastSuccess).toISOString() : null, lastError: forgetLastError || null },
    volumes: volumes.map((v) => v.status()),
  };
}

const API_HELP = "the API is GET /api/status, POST /api/backup[/<swarmVolume>], POST /api/restore/<swarmVolume>?snapshot=latest|<id>";

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function onRequest(req, res) {
  /** @type {URL} */
  let url;
  try {
    url = new URL(`http://x${(req.url || "").startsWith("/") ? req.url : "/?"}`);
  } catch {
    return send(res, 400, "bad request target\n");
  }
  const host = String(req.headers.host || "").toLowerCase().replace(/:\d+$/, "");
  if (url.pathname === "/healthz") return send(res, 200, "ok\n");
  if (host !== cfg.apiHost || !url.pathname.startsWith("/api/")) return send(res, 404, `not found; ${API_HELP} on ${cfg.apiHost}\n`);
  if (!tokenMatches(req)) return send(res, 401, { error: "Authorization: Bearer <token> required" });
  const m = /^\/api\/(status|backup|restore)(?:\/([^/]+))?$/.exec(url.pathname);
  if (!m || (m[1] === "status" && m[2] !== undefined) || (m[1] === "restore" && m[2] === undefined)) return send(res, 404, { error: `not found; ${API_HELP}` });
  const method = m[1] === "status" ? "GET" : "POST";
  if (req.method !== method) {
    res.setHeader("allow", method);
    return send(res, 405, { error: `use ${method}` });
  }
  if (m[1] === "status") return send(res, 200, statusBody());
  /** @type {Volume | undefined} */
  let vol;
  if (m[2] !== undefined) {
    let name;
    try {
      name = decodeURIComponent(m[2]);
    } catch {
      return send(res, 400, { error: "the volume's name is not valid percent-encoding" });
    }
    vol = byName.get(name);
    if (!vol) return send(res, 404, { error: `no volume called ${JSON.stringify(name)} is backed up`, volumes: volumes.map((v) => v.c.swarmVolume) });
  }
  if (m[1] === "backup") {
    const status = trigger({ kind: "backup", volumes: vol ? new Set([vol.c.swarmVolume]) : null, forget: !vol, reason: "api" });
    return send(res, 202, { status, volumes: vol ? [vol.c.swarmVolume] : volumes.map((v) => v.c.swarmVolume) });
  }
  const snapshot = url.searchParams.get("snapshot") || "latest";
  if (!SNAPSHOT.test(snapshot)) return send(res, 400, { error: 'snapshot must be "latest" or a snapshot ID (8 to 64 hex digits)' });
  const target = /** @type {Volume} */ (vol);
  const status = trigger({ kind: "restore", volume: target.c.swarmVolume, snapshot, reason: "api" });
  send(res, 202, { status, volume: target.c.swarmVolume, node: target.c.node, snapshot, follow: "GET /api/status: volumes[].restore" });
}

/** @param {string} v */
const esc = (v) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function metricsText() {
  /** @type {string[]} */
  const lines = [];
  /** @param {string} name @param {string} type @param {string} help @param {Array<[Record<string, string>, number]>} samples */
  const metric = (name, type, help, samples) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`).join(",");
      lines.push(`${name}${text ? `{${text}}` : ""} ${value}`);
    }
  };
  metric("backup_last_success_timestamp_seconds", "gauge", "When the volume's last good backup ended (0: none since the agent started).", volumes.map((v) => [{ volume: v.c.swarmVolume, node: v.c.node }, Math.floor(v.lastSuccess / 1000)]));
  metric("backup_runs_total", "counter", "Backups of the volume, by result (deferred: a just-in-time service was awake).", volumes.flatMap((v) => RESULTS.map((r) => /** @type {[Record<string, string>, number]} */ ([{ volume: v.c.swarmVolume, result: r }, v.runs[r]]))));
  metric("backup_duration_seconds", "gauge", "How long the volume's last backup took, stopping and starting its services included.", volumes.map((v) => [{ volume: v.c.swarmVolume }, v.lastDurationSeconds]));
  metric("backup_bytes_added", "gauge", "Bytes the volume's last good backup added to the repository (restic's data_added).", volumes.map((v) => [{ volume: v.c.swarmVolume }, v.bytesAdded]));
  metric("backup_running", "gauge", "1 while a backup or restore runs.", [[{}, current && current.kind !== "snapshots" ? 1 : 0]]);
  metric("backup_forget_last_success_timestamp_seconds", "gauge", "When the last good forget --prune ended (0: none since the agent started).", [[{}, Math.floor(forgetLastSuccess / 1000)]]);
  metric("backup_max_age_seconds", "gauge", "How old a volume's last good backup may be before it is overdue: two schedule intervals.", [[{}, maxAgeSeconds()]]);
  metric("backup_agent_start_timestamp_seconds", "gauge", "When the agent started.", [[{}, Math.floor(startedAt / 1000)]]);
  return `${lines.join("\n")}\n`;
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function onMetrics(req, res) {
  if ((req.url || "").split("?")[0] !== "/metrics") return send(res, 404, "metrics are at /metrics\n");
  const body = metricsText();
  res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------
// Start.

/** @param {http.Server} server @param {number} port @param {string} key @returns {Promise<number>} */
function listenOn(server, port, key) {
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`${key}: cannot listen on port ${port}: ${err.message}`)));
    server.listen(port, () => resolve(/** @type {import("net").AddressInfo} */ (server.address()).port));
  });
}

/**
 * Job services left by an agent that stopped mid-run are removed, by name. One labelled as a job
 * but not named so is not this agent's to remove (the socket filter would refuse it anyway): it
 * is logged, with the command that removes it.
 */
async function removeLeftovers() {
  const list = await docker("GET", `/services?${filtersQuery({ label: [JOB_LABEL] })}`);
  for (const s of Array.isArray(list) ? list : []) {
    const name = String((s && s.Spec && s.Spec.Name) || "");
    if (!name.startsWith(JOB_PREFIX)) {
      log("leftover-not-removed", { job: name, id: s && s.ID, error: `labelled ${JOB_LABEL} but not named ${JOB_PREFIX}…; remove it by hand if it is a backup job: docker service rm ${name || (s && s.ID)}` });
      continue;
    }
    await docker("DELETE", `/services/${encodeURIComponent(name)}`).catch((err) => {
      if (!notFound(err)) throw err;
    });
    log("leftover-removed", { job: name, id: s.ID });
  }
}

/** `--healthcheck [config]`: exit 0 if the agent's /healthz answers 200 (the image has no curl). */
function healthcheck(/** @type {string} */ path) {
  let port = 8080;
  try {
    port = Number(JSON.parse(fs.readFileSync(path, "utf8")).listen) || port;
  } catch {
    // The default port, then.
  }
  const fail = () => process.exit(1);
  http
    .get(`http://127.0.0.1:${port}/healthz`, { timeout: 3000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1))
    .on("timeout", fail)
    .on("error", fail);
}

async function main() {
  if (process.argv[2] === "--healthcheck") return healthcheck(process.argv[3] || DEFAULT_CONFIG);
  const path = process.argv[2] || DEFAULT_CONFIG;
  try {
    ({ config: cfg, token, jitToken } = loadConfig(path));
  } catch (err) {
    process.stderr.write(`backup: ${messageOf(err)}\n`);
    process.exit(2);
  }
  volumes = cfg.volumes.map((c) => new Volume(c));
  for (const v of volumes) byName.set(v.c.swarmVolume, v);
  process.on("uncaughtException", (err) => log("uncaught-exception", { error: err && err.stack ? err.stack.split("\n").slice(0, 3).join(" | ") : String(err) }));
  process.on("unhandledRejection", (err) => log("unhandled-rejection", { error: messageOf(err) }));

  const server = http.createServer({ headersTimeout: 20000, requestTimeout: 30000 }, onRequest);
  const metricsServer = http.createServer(onMetrics);
  /** @type {number[]} */
  let ports;
  try {
    ports = [await listenOn(server, cfg.listen, "listen"), await listenOn(metricsServer, cfg.metricsListen, "metricsListen")];
  } catch (err) {
    log("exit", { error: messageOf(err) });
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.once(signal, () => {
      log("exit", { signal, running: current ? current.kind : undefined });
      process.exit(0);
    });
  }
  // Before anything runs, so that a leftover job cannot be taken for one of this run's.
  for (let attempt = 1; ; attempt++) {
    try {
      await removeLeftovers();
      break;
    } catch (err) {
      log("leftovers-failed", { error: messageOf(err), attempt });
      await sleep(Math.min(attempt * 5000, 60000));
    }
  }
  nextRun = nextTime(Date.now());
  armSchedule();
  trigger({ kind: "snapshots", reason: "start" });
  log("listening", { port: ports[0], metricsPort: ports[1], apiHost: cfg.apiHost, jit: cfg.jit ? cfg.jit.url : undefined, volumes: volumes.map((v) => v.c.swarmVolume).join(","), nextRun: new Date(nextRun).toISOString(), node: process.version });
}

main().catch((err) => {
  log("exit", { error: messageOf(err) });
  process.exit(1);
});
