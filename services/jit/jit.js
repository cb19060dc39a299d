// @ts-check
/**
 * The just-in-time helper: Traefik routes every JIT host here; this proxies to the app's tasks
 * while they run, wakes the app (scales it to its replicas) when it sleeps at 0, and puts it back
 * to 0 after real idleness (no request and no open connection for idleSeconds).
 *
 * Why a proxy and not a Traefik plugin (Sablier's way): Traefik's Swarm provider drops the router
 * of a service with no task (traefik/traefik#12196), so nothing can hold a request for a sleeping
 * service; and only what carries the traffic can count open websockets and downloads.
 *
 * Runs as `node /app/jit.js [/etc/jit/config.json]` on node:18 with this file as a Swarm config:
 * one CommonJS file, Node's standard library only. `node jit.js --healthcheck [config]` asks the
 * running helper's /healthz (the image has no curl). See README.md beside this file.
 */
"use strict";

const http = require("http");
const dns = require("dns");
const fs = require("fs");
const net = require("net");

const DEFAULT_CONFIG = "/etc/jit/config.json";
/** Docker Engine API 1.41 (Docker 20.10): what Flatcar's and the lab's engines both serve. */
const API = "/v1.41";
/** How long a task address list is trusted before a background refresh (tasks come and go on deploys). */
const DNS_REFRESH_MS = 5000;
const READY_POLL_MS = 250;
const PROBE_TIMEOUT_MS = 2000;
/** A task address that vanished does not refuse, it just never answers (overlay network). */
const CONNECT_TIMEOUT_MS = 5000;
const DOCKER_TIMEOUT_MS = 10000;
const READY_PATH = "/__jit/ready";
const COLD_START_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300];
const STOP_REASONS = /** @type {const} */ (["idle", "eviction", "api"]);
const MIB = 1048576;

/**
 * @typedef {{ host: string, port: number }} Route
 * @typedef {{ name: string, swarmService: string, routes: Route[], replicas: number, idleSeconds: number,
 *   reservationBytes: number, node: string | undefined, probePath: string }} ServiceConfig
 * @typedef {{ name: string, jitBudgetBytes: number }} NodeConfig
 * @typedef {{ listen: number, metricsListen: number, docker: { host: string, port: number }, apiHost: string,
 *   holdSeconds: number, readySeconds: number, checkSeconds: number, tokenFile: string,
 *   dnsServer: string | undefined, services: ServiceConfig[], nodes: NodeConfig[] }} Config
 * @typedef {"idle" | "eviction" | "api"} StopReason
 * @typedef {(status: number, retryAfter: number, message: string) => void} Refuse
 */

// ---------------------------------------------------------------------------------------------
// Logs: one line per event, key=value; values come from config, Docker and error messages only
// (never headers, so never the token).

/** @param {string} event @param {Record<string, unknown>} [fields] */
function log(event, fields) {
  let line = `time=${new Date().toISOString()} event=${event}`;
  if (fields) {
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text)}`;
    }
  }
  process.stdout.write(`${line}\n`);
}

/** @type {Map<string, { until: number, dropped: number }>} */
const quiet = new Map();
/**
 * Logs at most one line per key per minute, so garbage from the network or a Docker API that is
 * down for an hour cannot fill a Pi's SD card.
 * @param {string} key @param {string} event @param {Record<string, unknown>} fields
 */
function logSometimes(key, event, fields) {
  const now = Date.now();
  const q = quiet.get(key);
  if (q && now < q.until) {
    q.dropped++;
    return;
  }
  quiet.set(key, { until: now + 60000, dropped: 0 });
  log(event, q && q.dropped ? { ...fields, similarBefore: q.dropped } : fields);
}

/** @param {unknown} err */
const messageOf = (err) => (err instanceof Error ? err.message : String(err));
const noop = () => {};
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** @param {number} bytes */
const mib = (bytes) => `${Math.round((bytes / MIB) * 10) / 10} MiB`;

// ---------------------------------------------------------------------------------------------
// Configuration: every problem is reported at once, with the key that has it.

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
/** @param {unknown} v */
const describe = (v) => (v === undefined ? "nothing" : Array.isArray(v) ? "a list" : v === null ? "null" : `${typeof v} ${JSON.stringify(v)}`);
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** Docker's own rule for service names (a stack prefixes them with `<stack>_`). */
const SWARM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Reads one object of the config, remembering which keys it asked for so that typos are caught. */
class Fields {
  /** @param {string[]} problems @param {string} at @param {unknown} value */
  constructor(problems, at, value) {
    this.problems = problems;
    this.at = at;
    this.value = isObject(value) ? value : {};
    /** @type {Set<string>} */
    this.known = new Set();
    if (!isObject(value)) problems.push(`${at || "the config"}: expected an object, got ${describe(value)}`);
  }
  /** @param {string} key */
  key(key) {
    return this.at ? `${this.at}.${key}` : key;
  }
  /** @param {string} key */
  raw(key) {
    this.known.add(key);
    return this.value[key];
  }
  /**
   * @param {string} key @param {number | undefined} fallback
   * @param {{ min: number, max?: number, integer?: boolean, what: string }} rule
   */
  number(key, fallback, rule) {
    const v = this.raw(key);
    if (v === undefined && fallback !== undefined) return fallback;
    const ok = typeof v === "number" && Number.isFinite(v) && v >= rule.min && (rule.max === undefined || v <= rule.max) && (!rule.integer || Number.isInteger(v));
    if (!ok) this.problems.push(`${this.key(key)}: expected ${rule.what}, got ${describe(v)}`);
    return ok ? /** @type {number} */ (v) : rule.min;
  }
  /** @param {string} key */
  port(key, /** @type {number | undefined} */ fallback) {
    return this.number(key, fallback, { min: 0, max: 65535, integer: true, what: "a port number (0 picks a free one, for tests)" });
  }
  /** @param {string} key @param {string | undefined} fallback @param {RegExp} pattern @param {string} what */
  string(key, fallback, pattern, what) {
    const v = this.raw(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string" || !pattern.test(v)) {
      this.problems.push(`${this.key(key)}: expected ${what}, got ${describe(v)}`);
      return "";
    }
    return v;
  }
  /** @param {string} key */
  list(key) {
    const v = this.raw(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problems.push(`${this.key(key)}: expected a list, got ${describe(v)}`);
      return [];
    }
    return v;
  }
  done() {
    for (const key of Object.keys(this.value)) {
      if (!this.known.has(key)) this.problems.push(`${this.key(key)}: unknown key (known here: ${[...this.known].join(", ")})`);
    }
  }
}

/**
 * Checks a parsed config and fills in defaults.
 * @param {unknown} raw @param {string[]} problems @returns {Config}
 */
function checkConfig(raw, problems) {
  const f = new Fields(problems, "", raw);
  const listen = f.port("listen", 8080);
  const metricsListen = f.port("metricsListen", 9101);
  if (listen === metricsListen && listen !== 0) problems.push(`metricsListen: must differ from listen (both ${listen})`);
  const dockerApi = f.string("dockerApi", "http://socket-proxy:2375", /^http:\/\/[^/?#\s]+\/?$/, 'an http:// URL with no path, e.g. "http://socket-proxy:2375"');
  const docker = { host: "", port: 80 };
  if (dockerApi) {
    try {
      const url = new URL(dockerApi);
      docker.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      docker.port = url.port ? Number(url.port) : 80;
    } catch (err) {
      problems.push(`dockerApi: ${JSON.stringify(dockerApi)} is not a URL (${messageOf(err)})`);
    }
  }
  const apiHost = f.string("apiHost", undefined, HOSTNAME, 'the host name of the helper\'s API, e.g. "jit.home.arpa"').toLowerCase();
  const seconds = { min: 0.05, what: "a number of seconds above 0" };
  const holdSeconds = f.number("holdSeconds", 30, seconds);
  const readySeconds = f.number("readySeconds", 180, seconds);
  const checkSeconds = f.number("checkSeconds", 10, seconds);
  const tokenFile = f.string("tokenFile", "/run/secrets/jit_token", /^\/\S+$/, "an absolute path");
  const dnsRaw = f.raw("dnsServer");
  /** @type {string | undefined} */
  let dnsServer;
  if (dnsRaw !== undefined) {
    const m = typeof dnsRaw === "string" ? /^([0-9.]+)(?::(\d{1,5}))?$/.exec(dnsRaw) : null;
    if (!m || !net.isIPv4(m[1])) problems.push(`dnsServer: expected an IPv4 address with an optional port, e.g. "127.0.0.1:5353" (for tests only), got ${describe(dnsRaw)}`);
    else dnsServer = String(dnsRaw);
  }

  /** @type {NodeConfig[]} */
  const nodes = f.list("nodes").map((n, i) => {
    const nf = new Fields(problems, `nodes[${i}]`, n);
    const node = {
      name: nf.string("name", undefined, /^\S+$/, "the Swarm node's hostname"),
      jitBudgetBytes: nf.number("jitBudgetBytes", undefined, { min: 0, integer: true, what: "a whole number of bytes" }),
    };
    nf.done();
    return node;
  });
  duplicates(problems, nodes.map((n) => n.name), (i) => `nodes[${i}].name`);

  /** @type {ServiceConfig[]} */
  const services = f.list("services").map((s, i) => {
    const sf = new Fields(problems, `services[${i}]`, s);
    const name = sf.string("name", undefined, /^[A-Za-z0-9][\w./-]*$/, 'the config key, e.g. "vaultwarden/vaultwarden"');
    const swarmService = sf.string("swarmService", undefined, SWARM_NAME, 'the Swarm service, e.g. "vaultwarden_vaultwarden"');
    const routes = readRoutes(problems, sf);
    const replicas = sf.number("replicas", 1, { min: 1, max: 100, integer: true, what: "a whole number of replicas from 1 to 100" });
    const idleSeconds = sf.number("idleSeconds", 1800, seconds);
    const reservationBytes = sf.number("reservationBytes", 0, { min: 0, integer: true, what: "a whole number of bytes" });
    const nodeRaw = sf.raw("node");
    const node = nodeRaw === undefined ? undefined : String(nodeRaw);
    if (nodeRaw !== undefined && (typeof nodeRaw !== "string" || !nodes.some((n) => n.name === nodeRaw))) {
      problems.push(`services[${i}].node: ${describe(nodeRaw)} is not in nodes (${nodes.map((n) => n.name).join(", ") || "none listed"}); list the node with its jitBudgetBytes`);
    }
    const budget = nodes.find((n) => n.name === node);
    if (budget && reservationBytes > budget.jitBudgetBytes) {
      problems.push(`services[${i}].reservationBytes: ${mib(reservationBytes)} is more than all of ${budget.name}'s jitBudgetBytes (${mib(budget.jitBudgetBytes)}), so it could never wake`);
    }
    const probePath = sf.string("probePath", "/", /^\/\S*$/, 'a path such as "/" or "/alive"');
    sf.done();
    return { name, swarmService, routes, replicas, idleSeconds, reservationBytes, node, probePath };
  });
  duplicates(problems, services.map((s) => s.name), (i) => `services[${i}].name`);
  duplicates(problems, services.map((s) => s.swarmService), (i) => `services[${i}].swarmService`);
  const hosts = services.flatMap((s, i) => s.routes.map((r, j) => ({ host: r.host, at: `services[${i}].routes[${j}].host` })));
  duplicates(problems, hosts.map((h) => h.host), (i) => hosts[i].at);
  for (const h of hosts) if (h.host === apiHost) problems.push(`${h.at}: ${h.host} is the apiHost; the API needs a host of its own`);
  f.done();
  return { listen, metricsListen, docker, apiHost, holdSeconds, readySeconds, checkSeconds, tokenFile, dnsServer, services, nodes };
}

/**
 * A service is reached at `host` and `port`, or at several hosts (`routes`, e.g. MinIO's API and
 * console); readiness is probed on the first route's port.
 * @param {string[]} problems @param {Fields} sf @returns {Route[]}
 */
function readRoutes(problems, sf) {
  const single = sf.raw("host") !== undefined || sf.raw("port") !== undefined;
  if (single && sf.raw("routes") !== undefined) {
    problems.push(`${sf.key("routes")}: give either host and port or routes, not both`);
    return [];
  }
  const list = single ? [{ host: sf.raw("host"), port: sf.raw("port") === undefined ? 80 : sf.raw("port") }] : sf.list("routes");
  if (list.length === 0) problems.push(`${sf.at}: has no host; give host (and port) or routes: [{ host, port }]`);
  return list.map((r, j) => {
    const rf = new Fields(problems, single ? sf.at : sf.key(`routes[${j}]`), r);
    const route = { host: rf.string("host", undefined, HOSTNAME, 'a host name, e.g. "vault.home.arpa"').toLowerCase(), port: rf.number("port", 80, { min: 1, max: 65535, integer: true, what: "the port the app listens on in its task" }) };
    if (!single) rf.done();
    return route;
  });
}

/** @param {string[]} problems @param {string[]} values @param {(i: number) => string} at */
function duplicates(problems, values, at) {
  values.forEach((v, i) => {
    const first = values.indexOf(v);
    if (v && first !== i) problems.push(`${at(i)}: ${JSON.stringify(v)} is already used by ${at(first)}`);
  });
}

/** @param {string} path @returns {Config} */
function loadConfig(path) {
  let text;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read the config ${path}: ${messageOf(err)}`);
  }
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`the config ${path} is not JSON: ${messageOf(err)}`);
  }
  /** @type {string[]} */
  const problems = [];
  const config = checkConfig(raw, problems);
  if (problems.length) throw new Error(`the config ${path} has ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  return config;
}

/** @param {string} file */
function readToken(file) {
  let token;
  try {
    token = fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new Error(`tokenFile: cannot read ${file}: ${messageOf(err)}`);
  }
  if (token.length < 16) throw new Error(`tokenFile: ${file} holds ${token.length} characters; the API token must have at least 16`);
  return token;
}

// ---------------------------------------------------------------------------------------------
// State of one JIT service.

class Service {
  /** @param {ServiceConfig} c */
  constructor(c) {
    this.c = c;
    /** Desired replicas as last seen in (or set on) the swarm; what counts against its node's budget. */
    this.replicas = 0;
    /** A task answered: requests go straight through. */
    this.ready = false;
    /** @type {Promise<void> | null} the one wake in flight: every request that finds the service asleep waits on it */
    this.waking = null;
    /** @type {Promise<void> | null} */
    this.stopping = null;
    /** @type {Promise<void>} resolves once the wake in flight has asked Swarm for the replicas */
    this.scaled = Promise.resolve();
    this.stopRequested = false;
    /** Bumped by every wake and stop, so a slow state refresh from before one cannot undo it. */
    this.generation = 0;
    this.attempt = 0;
    this.failedAttempt = 0;
    this.lastError = "";
    /**
     * Until when (ms) no wake may start: POST /api/hold, for the backup agent, which backs a
     * sleeping service's volume up and must not find it started under it. 0: not held.
     */
    this.heldUntil = 0;
    /**
     * Until when (ms) the service is kept awake: POST /api/keepawake, for the backup agent, whose
     * restic jobs reach a just-in-time repository (MinIO) at its Swarm address, not through this
     * helper, so their traffic never counts as use. Meanwhile it is neither stopped for idleness
     * nor evicted. In memory only, like a hold. 0: no lease.
     */
    this.awakeUntil = 0;
    /** Requests in flight plus upgraded sockets: while above 0 the service is in use and never stopped. */
    this.open = 0;
    /** Restart rule: what runs now was in use for all we know, so it gets a full idle period. */
    this.lastActivity = Date.now();
    /** @type {string[]} */
    this.addrs = [];
    this.addrsAt = 0;
    this.rr = 0;
    /** @type {Promise<void> | null} */
    this.resolving = null;
    this.held = 0;
    this.heldTotal = 0;
    this.wakes = 0;
    this.wakeFailures = 0;
    this.evictions = 0;
    /** @type {Record<StopReason, number>} */
    this.stops = { idle: 0, eviction: 0, api: 0 };
    this.coldStart = { buckets: COLD_START_BUCKETS.map(() => 0), sum: 0, count: 0 };
  }
  leased() {
    return this.awakeUntil > Date.now();
  }
  get state() {
    if (this.waking) return "waking";
    if (this.stopping) return "stopping";
    if (this.ready) return "awake";
    return this.replicas > 0 ? "waking" : "asleep";
  }
  begin() {
    this.open++;
    this.lastActivity = Date.now();
  }
  end() {
    this.open--;
    this.lastActivity = Date.now();
  }
  /** @param {number} seconds */
  observeColdStart(seconds) {
    COLD_START_BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.coldStart.buckets[i]++;
    });
    this.coldStart.sum += seconds;
    this.coldStart.count++;
  }
}

/** A wake that cannot go on; `retryAfter` is what clients are told. */
class WakeError extends Error {
  /** @param {string} message @param {number} retryAfter */
  constructor(message, retryAfter) {
    super(message);
    this.retryAfter = retryAfter;
  }
}

/** @type {Config} */
let cfg;
/** @type {Buffer} */
let token;
/** @type {Service[]} */
let services = [];
/** @type {Map<string, { svc: Service, port: number }>} */
const routes = new Map();
/** @type {Map<string, Service>} */
const byName = new Map();

// ---------------------------------------------------------------------------------------------
// Docker API: read a service, change its replicas and nothing else, list its tasks.

const dockerAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/**
 * One Docker API call. A kept-alive socket the socket proxy has just closed (haproxy's idle timeout)
 * is retried once on a new connection; for an update that may have gone through, the retry fails
 * "out of sequence" and setReplicas reads again.
 * @param {string} method @param {string} path @param {unknown} [body] @param {boolean} [retried]
 * @returns {Promise<any>}
 */
function docker(method, path, body, retried) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const what = `Docker API ${method} ${path.split("?")[0]}`;
    const req = http.request(
      {
        host: cfg.docker.host,
        port: cfg.docker.port,
        method,
        path: API + path,
        agent: dockerAgent,
        timeout: DOCKER_TIMEOUT_MS,
        headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
      },
      (res) => {
        /** @type {Buffer[]} */
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", (err) => reject(new Error(`${what}: ${err.message}`)));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = null;
          }
          const status = res.statusCode || 0;
          if (status >= 400) {
            const detail = json && typeof json.message === "string" ? json.message : text.slice(0, 200);
            reject(Object.assign(new Error(`${what}: ${status} ${detail.trim()}`), { status }));
          } else resolve(json);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${DOCKER_TIMEOUT_MS / 1000} s`)));
    req.on("error", (err) => {
      if (!retried && req.reusedSocket && /** @type {{ code?: string }} */ (err).code === "ECONNRESET") resolve(docker(method, path, body, true));
      else reject(new Error(`${what}: ${err.message}`));
    });
    req.end(payload);
  });
}

/** @param {Service} svc */
const servicePath = (svc) => `/services/${encodeURIComponent(svc.c.swarmService)}`;

/**
 * Sets the service's replicas, sending back the spec exactly as Swarm gave it (so the helper never
 * undoes a deploy), and only when they differ. With `onlyFromZero` a running service keeps whatever
 * replicas someone else gave it.
 * @param {Service} svc @param {number} target @param {boolean} onlyFromZero
 * @returns {Promise<{ changed: boolean, replicas: number }>}
 */
async function setReplicas(svc, target, onlyFromZero) {
  for (let attempt = 1; ; attempt++) {
    const current = await docker("GET", servicePath(svc));
    const spec = current && current.Spec;
    const replicated = spec && spec.Mode && spec.Mode.Replicated;
    if (!replicated) throw new WakeError(`${svc.c.swarmService} is not a replicated service; only those can sleep at 0 replicas`, 60);
    const now = Number(replicated.Replicas) || 0;
    if (now === target || (onlyFromZero && now > 0)) return { changed: false, replicas: now };
    replicated.Replicas = target;
    try {
      await docker("POST", `${servicePath(svc)}/update?version=${current.Version.Index}`, spec);
      return { changed: true, replicas: target };
    } catch (err) {
      // Someone else (a deploy) updated it between our read and write: read again.
      if (attempt < 3 && /out of sequence/i.test(messageOf(err))) continue;
      throw err;
    }
  }
}

/** @param {Service} svc @returns {Promise<any[]>} */
async function runningTasks(svc) {
  const filters = JSON.stringify({ service: [svc.c.swarmService], "desired-state": ["running"] });
  const tasks = await docker("GET", `/tasks?filters=${encodeURIComponent(filters)}`);
  return Array.isArray(tasks) ? tasks : [];
}

// ---------------------------------------------------------------------------------------------
// Task addresses (tasks.<service> in Swarm's DNS, never the VIP: the lab's kernel has no IPVS, and
// Traefik too goes to task addresses) and the readiness probe.

/** @param {Service} svc @returns {Promise<string[]>} */
async function resolveTasks(svc) {
  // A fresh resolver each time: c-ares >= 1.31 (Node 20+) caches answers for their TTL, and
  // Docker's DNS gives tasks.* a TTL of 600 s, so a shared one could keep a dead task's address
  // or a "no such name" from before the wake.
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  if (cfg.dnsServer) resolver.setServers([cfg.dnsServer]);
  try {
    return (await resolver.resolve4(`tasks.${svc.c.swarmService}`)).sort();
  } catch (err) {
    const code = /** @type {{ code?: string }} */ (err).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return [];
    throw err;
  }
}

/**
 * Refreshes the cached addresses in the background; requests keep using the old list meanwhile.
 * @param {Service} svc
 */
function refreshAddrs(svc) {
  if (!svc.resolving) {
    const generation = svc.generation;
    svc.resolving = resolveTasks(svc)
      .then(
        (addrs) => {
          // A wake or stop since the question was asked knows better.
          if (generation !== svc.generation) return;
          svc.addrs = addrs;
          if (addrs.length === 0 && svc.ready && !svc.waking) {
            svc.ready = false;
            log("gone", { service: svc.c.name, why: `tasks.${svc.c.swarmService} has no address` });
          }
        },
        (err) => logSometimes(`dns ${svc.c.name}`, "dns-error", { service: svc.c.name, error: messageOf(err) }),
      )
      .finally(() => {
        svc.addrsAt = Date.now();
        svc.resolving = null;
      });
  }
  return svc.resolving;
}

/** @param {Service} svc */
function pickAddr(svc) {
  const addrs = svc.addrs;
  if (Date.now() - svc.addrsAt > DNS_REFRESH_MS) refreshAddrs(svc);
  return addrs.length ? addrs[svc.rr++ % addrs.length] : undefined;
}

/** @param {Service} svc @param {string} addr */
function dropAddr(svc, addr) {
  svc.addrs = svc.addrs.filter((a) => a !== addr);
  refreshAddrs(svc);
}

/**
 * Whether the app answers HTTP on that address: any status below 500 counts, a refusal does not.
 * @param {Service} svc @param {string} addr @returns {Promise<boolean>}
 */
function probe(svc, addr) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: addr, port: svc.c.routes[0].port, path: svc.c.probePath, agent: false, timeout: PROBE_TIMEOUT_MS, headers: { host: svc.c.routes[0].host, "user-agent": "homelab-jit-probe" } },
      (res) => {
        res.resume();
        resolve((res.statusCode || 500) < 500);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** @param {Service} svc @returns {Promise<string[]>} addresses, if a task runs and one answers */
async function answeringAddrs(svc) {
  const addrs = await resolveTasks(svc);
  for (const addr of addrs) if (await probe(svc, addr)) return addrs;
  return [];
}

// ---------------------------------------------------------------------------------------------
// Waking, with the node's memory budget, and stopping.

/** @type {Map<string, Promise<unknown>>} */
const nodeQueues = new Map();
/**
 * Runs admissions to one node one at a time: two wakes deciding at once would both see room.
 * @template T @param {string} node @param {() => Promise<T>} fn @returns {Promise<T>}
 */
function onNode(node, fn) {
  const run = (nodeQueues.get(node) || Promise.resolve()).then(fn, fn);
  nodeQueues.set(node, run.catch(noop));
  return run;
}

/**
 * Makes room for `svc` on its node: the JIT services awake there plus this one must fit in the
 * node's jitBudgetBytes; the least recently used one without an open connection is stopped until
 * they do. One in use is never stopped; if that leaves no room, the wake fails and says why.
 * @param {Service} svc @param {NodeConfig} node
 */
async function admit(svc, node) {
  const neighbours = services.filter((o) => o !== svc && o.c.node === node.name);
  for (;;) {
    // What is being stopped (idle, another wake's eviction) frees its reservation once Swarm has the update.
    const stopping = neighbours.filter((o) => o.stopping);
    if (stopping.length) {
      await Promise.all(stopping.map((o) => o.stopping && o.stopping.catch(noop)));
      continue;
    }
    // Only what is admitted counts: a wake queued behind this one has replicas 0 until its turn.
    const awake = neighbours.filter((o) => o.replicas > 0);
    const taken = awake.reduce((sum, o) => sum + o.c.reservationBytes, 0);
    if (taken + svc.c.reservationBytes <= node.jitBudgetBytes) return;
    // A service kept awake (a backup writing to it) is in use as much as one with an open connection.
    const victim = awake.filter((o) => o.open === 0 && !o.waking && !o.stopping && !o.leased()).sort((a, b) => a.lastActivity - b.lastActivity)[0];
    if (!victim) {
      const users = awake.map((o) => `${o.c.name} (${mib(o.c.reservationBytes)}, ${o.open} open connection(s)${o.leased() ? `, kept awake until ${new Date(o.awakeUntil).toISOString()}` : ""})`).join(", ");
      throw new WakeError(
        `Not enough memory on ${node.name} to start ${svc.c.name}: it needs ${mib(svc.c.reservationBytes)}, and the just-in-time services in use there ` +
          `already take ${mib(taken)} of the ${mib(node.jitBudgetBytes)} they may reserve: ${users}. Try again once one of them is idle.`,
        60,
      );
    }
    victim.evictions++;
    log("evict", { service: victim.c.name, for: svc.c.name, node: node.name, idleSeconds: Math.round((Date.now() - victim.lastActivity) / 1000) });
    await stop(victim, "eviction");
  }
}

/**
 * Wakes the service once, however many requests ask at the same time, and resolves when it
 * answers. `since` is when the first request came (the cold start clock starts there).
 * @param {Service} svc @param {number} since @returns {Promise<void>}
 */
function wake(svc, since) {
  if (svc.ready && !svc.stopping) return Promise.resolve();
  if (svc.waking) return svc.waking;
  const attempt = ++svc.attempt;
  svc.stopRequested = false;
  /** @type {(err?: unknown) => void} */
  let scaledDone = noop;
  svc.scaled = new Promise((resolve, reject) => (scaledDone = (err) => (err ? reject(err) : resolve())));
  svc.scaled.catch(noop);
  svc.waking = (async () => {
    if (svc.stopping) await svc.stopping.catch(noop);
    const heldFor = Math.ceil((svc.heldUntil - Date.now()) / 1000);
    if (heldFor > 0) throw new WakeError(`${svc.c.name} is being backed up or restored and cannot start for about ${heldFor} s. Try again then.`, heldFor);
    svc.generation++;
    const node = cfg.nodes.find((n) => n.name === svc.c.node);
    const before = svc.replicas;
    const scale = async () => {
      if (node) await admit(svc, node);
      // Counted against the node before the update returns, so a wake queued behind sees it.
      svc.replicas = Math.max(svc.replicas, svc.c.replicas);
      try {
        return await setReplicas(svc, svc.c.replicas, true);
      } catch (err) {
        svc.replicas = before;
        throw err;
      }
    };
    const result = node ? await onNode(node.name, scale) : await scale();
    svc.replicas = result.replicas;
    if (result.changed) {
      svc.wakes++;
      log("wake", { service: svc.c.name, replicas: result.replicas, node: svc.c.node });
    }
    scaledDone();
    await waitReady(svc, Date.now() + cfg.readySeconds * 1000);
    svc.ready = true;
    svc.lastError = "";
    const seconds = (Date.now() - since) / 1000;
    if (result.changed) svc.observeColdStart(seconds);
    log("ready", { service: svc.c.name, seconds: seconds.toFixed(2), addrs: svc.addrs.join(",") });
  })()
    .catch((err) => {
      svc.failedAttempt = attempt;
      svc.lastError = messageOf(err);
      svc.wakeFailures++;
      scaledDone(err);
      log("wake-failed", { service: svc.c.name, error: svc.lastError });
      throw err;
    })
    .finally(() => {
      svc.waking = null;
    });
  svc.waking.catch(noop);
  return svc.waking;
}

/**
 * Ready means a task is running and answers HTTP on its address at probePath.
 * @param {Service} svc @param {number} deadline
 */
async function waitReady(svc, deadline) {
  let last = "no task yet";
  for (;;) {
    if (svc.stopRequested) throw new WakeError(`${svc.c.name} was stopped through the API while it was starting`, 30);
    try {
      const tasks = await runningTasks(svc);
      if (tasks.some((t) => t.Status && t.Status.State === "running")) {
        const addrs = await answeringAddrs(svc);
        if (addrs.length) {
          svc.addrs = addrs;
          svc.addrsAt = Date.now();
          return;
        }
        last = `a task runs but does not answer HTTP on port ${svc.c.routes[0].port} at ${svc.c.probePath} yet`;
      } else {
        const t = tasks[0];
        last = t && t.Status ? `task ${t.Status.State}${t.Status.Err ? `: ${t.Status.Err}` : ""}` : "no task scheduled yet";
      }
    } catch (err) {
      last = messageOf(err);
    }
    if (Date.now() >= deadline) throw new WakeError(`${svc.c.name} did not answer within ${cfg.readySeconds} s (${last})`, 10);
    await sleep(READY_POLL_MS);
  }
}

/**
 * Scales the service to 0. Marks it not ready at once (same tick as the caller's checks), so a
 * request that comes meanwhile is held and wakes it again instead of reaching a dying task.
 * @param {Service} svc @param {StopReason} reason @returns {Promise<void>}
 */
function stop(svc, reason) {
  if (svc.stopping) return svc.stopping;
  svc.ready = false;
  svc.generation++;
  const idle = Math.round((Date.now() - svc.lastActivity) / 1000);
  svc.stopping = (async () => {
    const result = await setReplicas(svc, 0, false);
    svc.replicas = 0;
    svc.addrs = [];
    if (result.changed) svc.stops[reason]++;
    log("stop", { service: svc.c.name, reason, idleSeconds: idle });
  })().finally(() => {
    svc.stopping = null;
  });
  return svc.stopping;
}

/**
 * Reads the service's replicas and tasks from the swarm: after a restart of the helper, and every
 * checkSeconds, so a deploy or a `docker service scale` by hand is seen. What runs and answers is
 * awake from now on (a full idle period before it sleeps: it may be in use for all we know).
 * @param {Service} svc
 */
async function refreshFromSwarm(svc) {
  if (svc.waking || svc.stopping) return;
  const generation = svc.generation;
  let replicas = 0;
  try {
    const current = await docker("GET", servicePath(svc));
    replicas = Number(current && current.Spec && current.Spec.Mode && current.Spec.Mode.Replicated && current.Spec.Mode.Replicated.Replicas) || 0;
  } catch (err) {
    if (/** @type {{ status?: number }} */ (err).status !== 404) throw err;
    logSometimes(`missing ${svc.c.name}`, "missing", { service: svc.c.name, error: messageOf(err) });
  }
  const running = replicas > 0 ? (await runningTasks(svc)).filter((t) => t.Status && t.Status.State === "running").length : 0;
  const addrs = running > 0 && !svc.ready ? await answeringAddrs(svc) : [];
  if (generation !== svc.generation || svc.waking || svc.stopping) return;
  svc.replicas = replicas;
  if (running === 0) {
    if (svc.ready) log("gone", { service: svc.c.name, why: replicas ? "no running task" : "scaled to 0 outside the helper" });
    svc.ready = false;
  } else if (!svc.ready && addrs.length) {
    svc.ready = true;
    svc.addrs = addrs;
    svc.addrsAt = Date.now();
    svc.lastActivity = Date.now();
    log("found-awake", { service: svc.c.name, replicas, addrs: addrs.join(",") });
  }
}

/** @param {Service} svc */
function stopIfIdle(svc) {
  if (svc.open > 0 || svc.waking || svc.stopping || svc.replicas === 0) return;
  // A lease counts as use until it ends (or is released): the idle time starts then.
  if (Date.now() - Math.max(svc.lastActivity, svc.awakeUntil) < svc.c.idleSeconds * 1000) return;
  stop(svc, "idle").catch((err) => log("stop-failed", { service: svc.c.name, reason: "idle", error: messageOf(err) }));
}

let checking = false;
async function check() {
  if (checking) return;
  checking = true;
  try {
    await Promise.all(
      services.map(async (svc) => {
        try {
          await refreshFromSwarm(svc);
        } catch (err) {
          logSometimes(`refresh ${svc.c.name}`, "refresh-failed", { service: svc.c.name, error: messageOf(err) });
        }
        stopIfIdle(svc);
      }),
    );
  } finally {
    checking = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The proxy.

/** Hop-by-hop headers (RFC 9110 7.6.1) and Expect, which this side has answered already. */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization", "expect"]);
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT", "JIT_CONNECT_TIMEOUT"]);

/** @param {string | undefined} value */
function connectionTokens(value) {
  if (!value) return undefined;
  const tokens = new Set(value.toLowerCase().split(",").map((t) => t.trim()));
  tokens.delete("close");
  tokens.delete("keep-alive");
  return tokens.size ? tokens : undefined;
}

/** @param {string | undefined} header @returns {string | undefined} the host, lowercased, without port or final dot */
function hostOf(header) {
  if (!header || header.length > 260) return undefined;
  let host = header.toLowerCase();
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf("]");
    return end > 0 ? host.slice(0, end + 1) : undefined;
  }
  const colon = host.indexOf(":");
  if (colon >= 0) host = host.slice(0, colon);
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host || undefined;
}

/** @param {http.IncomingMessage} req @param {boolean} upgrade */
function forwardHeaders(req, upgrade) {
  const src = req.headers;
  const listed = connectionTokens(src.connection);
  /** @type {http.OutgoingHttpHeaders} */
  const out = {};
  for (const key in src) {
    if (HOP.has(key) || (listed && listed.has(key))) continue;
    out[key] = src[key];
  }
  if (upgrade) {
    out.connection = "upgrade";
    out.upgrade = src.upgrade;
  } else if (src["transfer-encoding"] !== undefined) {
    // The body is streamed as it comes, so it is re-framed in chunks.
    out["transfer-encoding"] = "chunked";
  }
  const remote = req.socket.remoteAddress || "";
  const peer = remote.startsWith("::ffff:") ? remote.slice(7) : remote;
  const forwarded = src["x-forwarded-for"];
  out["x-forwarded-for"] = forwarded ? `${forwarded}, ${peer}` : peer;
  if (!src["x-forwarded-proto"]) out["x-forwarded-proto"] = "http";
  if (!src["x-forwarded-host"]) out["x-forwarded-host"] = src.host;
  return out;
}

/** @param {string[]} raw @returns {string[]} the response's headers as they came, less hop-by-hop ones */
function responseHeaders(raw) {
  /** @type {Set<string> | undefined} */
  let listed;
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i].toLowerCase();
    if (key === "connection") listed = connectionTokens(raw[i + 1]);
    if (!HOP.has(key)) out.push(raw[i], raw[i + 1]);
  }
  // Rare: headers the app named in Connection are hop-by-hop too, wherever they stood.
  if (!listed) return out;
  const named = listed;
  return out.filter((_, i) => !named.has(out[i - (i % 2)].toLowerCase()));
}

/**
 * Destroys a proxied request whose connection has not come up in time.
 * @param {http.ClientRequest} preq
 */
function connectTimeout(preq) {
  preq.once("socket", (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => preq.destroy(Object.assign(new Error("connect timeout"), { code: "JIT_CONNECT_TIMEOUT" })), CONNECT_TIMEOUT_MS);
    socket.once("connect", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  });
}

const proxyAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, scheduling: "lifo" });

/**
 * @param {http.ServerResponse} res @param {number} status @param {string} body
 * @param {Record<string, string | number>} [headers]
 */
function reply(res, status, body, headers) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...headers });
  res.end(body);
}

/** @param {http.ServerResponse} res @param {number} status @param {unknown} value @param {Record<string, string | number>} [headers] */
function replyJson(res, status, value, headers) {
  reply(res, status, `${JSON.stringify(value, null, 2)}\n`, { "content-type": "application/json", ...headers });
}

/**
 * Streams the request to a task and the answer back. Requests without a body are tried once more
 * on another address if the first cannot be reached (a task that went away, or a kept-alive socket
 * the app had just closed); anything else gets 502.
 * @param {Service} svc @param {number} port @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {boolean} mayRetry
 */
function proxy(svc, port, req, res, mayRetry) {
  const addr = pickAddr(svc);
  if (addr === undefined) {
    refreshAddrs(svc).then(() => {
      if (res.destroyed) return;
      if (svc.addrs.length) proxy(svc, port, req, res, false);
      else {
        svc.ready = false;
        whenAwake(svc, () => proxy(svc, port, req, res, false), res, refuseHttp(res));
      }
    });
    return;
  }
  const bodyless = req.headers["transfer-encoding"] === undefined && (req.headers["content-length"] === undefined || req.headers["content-length"] === "0");
  const preq = http.request({ host: addr, port, method: req.method, path: req.url, headers: forwardHeaders(req, false), agent: proxyAgent });
  connectTimeout(preq);
  preq.on("response", (pres) => {
    try {
      res.writeHead(pres.statusCode || 502, pres.statusMessage, responseHeaders(pres.rawHeaders));
    } catch (err) {
      pres.destroy();
      logSometimes(`bad-response ${svc.c.name}`, "bad-response", { service: svc.c.name, error: messageOf(err) });
      reply(res, 502, "the service gave an answer that cannot be passed on\n");
      return;
    }
    pres.on("error", () => res.destroy());
    pres.pipe(res);
  });
  preq.on("error", (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const code = /** @type {{ code?: string }} */ (err).code || "";
    const unreachable = CONNECT_ERRORS.has(code);
    if (unreachable) dropAddr(svc, addr);
    const staleSocket = preq.reusedSocket && code === "ECONNRESET" && IDEMPOTENT.has(req.method || "");
    if (mayRetry && bodyless && (unreachable || staleSocket) && !res.destroyed) {
      proxy(svc, port, req, res, false);
      return;
    }
    logSometimes(`proxy ${svc.c.name} ${code}`, "proxy-error", { service: svc.c.name, addr, error: code || messageOf(err) });
    reply(res, 502, "the service did not answer\n");
  });
  res.once("close", () => {
    if (!res.writableFinished) preq.destroy();
  });
  if (bodyless) preq.end();
  else {
    req.on("error", () => preq.destroy());
    req.pipe(preq);
  }
}

/**
 * Waits for the service to wake (at most holdSeconds), then goes on; refuses if it cannot.
 * @param {Service} svc @param {() => void} go
 * @param {import("events").EventEmitter} closer emits "close" when the client goes away
 * @param {Refuse} refuse
 */
function whenAwake(svc, go, closer, refuse) {
  const waking = wake(svc, Date.now());
  svc.held++;
  svc.heldTotal++;
  let done = false;
  const finish = () => {
    if (done) return false;
    done = true;
    svc.held--;
    clearTimeout(timer);
    closer.off("close", finish);
    return true;
  };
  const timer = setTimeout(() => {
    if (finish()) refuse(503, 10, `${svc.c.name} is still starting after ${cfg.holdSeconds} s; try again shortly.\n`);
  }, cfg.holdSeconds * 1000);
  closer.once("close", finish);
  waking.then(
    () => {
      if (finish()) go();
    },
    (err) => {
      if (finish()) refuse(503, err instanceof WakeError ? err.retryAfter : 30, `${messageOf(err)}\n`);
    },
  );
}

/** @param {http.ServerResponse} res @returns {Refuse} */
const refuseHttp = (res) => (status, retryAfter, message) => reply(res, status, message, { "retry-after": retryAfter });

/** @param {http.IncomingMessage} req */
const wantsPage = (req) => req.method === "GET" && /text\/html/i.test(req.headers.accept || "");

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function onRequest(req, res) {
  const host = hostOf(req.headers.host);
  const url = req.url || "";
  if (host === undefined) return reply(res, 400, "a Host header is required\n");
  if (url.charCodeAt(0) !== 47 /* / */) return reply(res, 400, "the request target must be a path\n");
  const route = routes.get(host);
  if (route === undefined) {
    if (host === cfg.apiHost) return api(req, res, url);
    if (url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return reply(res, 200, "ok\n");
    return reply(res, 404, "no just-in-time service is served at this host\n");
  }
  const svc = route.svc;
  svc.begin();
  res.once("close", () => svc.end());
  if (url === READY_PATH || url.startsWith(`${READY_PATH}?`)) return readyState(svc, url, res);
  if (svc.ready) return proxy(svc, route.port, req, res, true);
  if (wantsPage(req)) {
    wake(svc, Date.now());
    return splash(svc, res);
  }
  whenAwake(svc, () => proxy(svc, route.port, req, res, true), res, refuseHttp(res));
}

// ---------------------------------------------------------------------------------------------
// Upgrades (websockets and anything else that asks): piped both ways, counted open until closed.

/** @param {import("net").Socket} socket @param {number} status @param {string} body @param {number} [retryAfter] */
function replyRaw(socket, status, body, retryAfter) {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const retry = retryAfter ? `Retry-After: ${retryAfter}\r\n` : "";
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`);
}

/** @param {http.IncomingMessage} res @param {string[]} headers */
const rawHead = (res, headers) => {
  let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
};

/** @param {http.IncomingMessage} req @param {import("net").Socket} socket @param {Buffer} head */
function onUpgrade(req, socket, head) {
  socket.on("error", noop);
  const host = hostOf(req.headers.host);
  const route = host === undefined ? undefined : routes.get(host);
  if (route === undefined || (req.url || "").charCodeAt(0) !== 47) return replyRaw(socket, host === undefined ? 400 : 404, "no just-in-time service is served at this host\n");
  const svc = route.svc;
  svc.begin();
  socket.once("close", () => svc.end());
  const go = () => proxyUpgrade(svc, route.port, req, socket, head);
  /** @type {Refuse} */
  const refuse = (status, retryAfter, message) => replyRaw(socket, status, message, retryAfter);
  if (svc.ready) go();
  else whenAwake(svc, go, socket, refuse);
}

/**
 * @param {Service} svc @param {number} port @param {http.IncomingMessage} req
 * @param {import("net").Socket} socket @param {Buffer} head
 */
function proxyUpgrade(svc, port, req, socket, head) {
  if (socket.destroyed) return;
  const addr = pickAddr(svc);
  if (addr === undefined) {
    svc.ready = false;
    whenAwake(svc, () => proxyUpgrade(svc, port, req, socket, head), socket, (status, retryAfter, message) => replyRaw(socket, status, message, retryAfter));
    return;
  }
  // Its own connection: an upgraded socket leaves HTTP and must never go back to a keep-alive pool.
  const preq = http.request({ host: addr, port, method: req.method, path: req.url, headers: forwardHeaders(req, true), agent: false });
  connectTimeout(preq);
  preq.on("upgrade", (pres, upstream, upstreamHead) => {
    upstream.on("error", noop);
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    socket.setTimeout(0);
    socket.setNoDelay(true);
    upstream.setNoDelay(true);
    socket.write(rawHead(pres, pres.rawHeaders));
    if (upstreamHead.length) socket.write(upstreamHead);
    if (head.length) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
    upstream.once("close", () => socket.destroy());
    socket.once("close", () => upstream.destroy());
  });
  preq.on("response", (pres) => {
    // The app declined to upgrade: pass its answer on, delimited by closing the connection.
    const headers = responseHeaders(pres.rawHeaders);
    /** @type {string[]} */
    const kept = [];
    for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() !== "content-length") kept.push(headers[i], headers[i + 1]);
    socket.write(rawHead(pres, [...kept, "Connection", "close"]));
    pres.on("error", () => socket.destroy());
    pres.pipe(socket);
  });
  preq.on("error", (err) => {
    const code = /** @type {{ code?: string }} */ (err).code || "";
    if (CONNECT_ERRORS.has(code)) dropAddr(svc, addr);
    logSometimes(`upgrade ${svc.c.name} ${code}`, "proxy-error", { service: svc.c.name, addr, upgrade: true, error: code || messageOf(err) });
    replyRaw(socket, 502, "the service did not answer\n");
  });
  socket.once("close", () => preq.destroy());
  preq.end();
}

// ---------------------------------------------------------------------------------------------
// What a browser sees while the service starts, and what its script asks.

/** @param {string} text */
const escapeHtml = (text) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/**
 * A page with no external assets that asks READY_PATH every second and reloads as soon as the
 * service answers; if the wake fails it shows why and offers to try again.
 * @param {Service} svc @param {http.ServerResponse} res
 */
function splash(svc, res) {
  const name = escapeHtml(svc.c.name);
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Starting ${name}</title><noscript><meta http-equiv="refresh" content="5"></noscript>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:12vh auto;padding:0 1em;color:#1f2328}
.bar{height:4px;background:#d0d7de;overflow:hidden;border-radius:2px}.bar i{display:block;height:100%;width:30%;background:#0969da;animation:m 1.2s ease-in-out infinite}
@keyframes m{from{transform:translateX(-100%)}to{transform:translateX(340%)}}.failed .bar{display:none}.failed #m{color:#cf222e}</style></head>
<body><h1>Starting ${name}</h1><div class="bar"><i></i></div>
<p id="m">It sleeps while nobody uses it, to save memory. This page turns into it as soon as it answers.</p>
<p><button id="again" hidden onclick="location.reload()">Try again</button></p>
<script>
(function () {
  var m = document.getElementById("m"), t0 = Date.now();
  function poll() {
    fetch("${READY_PATH}?attempt=${svc.attempt}", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.ready) { location.reload(); return; }
        if (s.error) { document.body.className = "failed"; m.textContent = s.error; document.getElementById("again").hidden = false; return; }
        m.textContent = "Starting, " + Math.round((Date.now() - t0) / 1000) + " s so far. This page turns into it as soon as it answers.";
        setTimeout(poll, 1000);
      }, function () { setTimeout(poll, 2000); });
  }
  poll();
})();
</script></body></html>
`;
  reply(res, 503, page, { "content-type": "text/html; charset=utf-8", "retry-after": 5 });
}

/**
 * The splash page's question. A wake that failed is reported only to pages served for that attempt
 * or later; otherwise asking wakes the service (so a page left open after a failure can try again).
 * @param {Service} svc @param {string} url @param {http.ServerResponse} res
 */
function readyState(svc, url, res) {
  const m = /[?&]attempt=(\d+)/.exec(url);
  const attempt = m ? Number(m[1]) : 0;
  let error;
  if (!svc.ready && !svc.waking) {
    if (attempt > 0 && svc.failedAttempt >= attempt) error = svc.lastError;
    else wake(svc, Date.now());
  }
  replyJson(res, 200, { service: svc.c.name, state: svc.state, ready: svc.ready, error });
}

// ---------------------------------------------------------------------------------------------
// The API, on apiHost only.

/**
 * Compares the Bearer token in constant time: every byte of the expected token is looked at
 * whatever was sent, with no branch on the bytes. Not crypto.timingSafeEqual: loading crypto costs
 * 1.5 MiB of resident memory on Node 18, of the 48 MiB the helper may use.
 * @param {http.IncomingMessage} req
 */
function authorized(req) {
  const header = req.headers.authorization;
  if (typeof header !== "string" || !/^bearer /i.test(header)) return false;
  const given = Buffer.from(header.slice(7).trim(), "utf8");
  let diff = given.length ^ token.length;
  for (let i = 0; i < token.length; i++) diff |= token[i] ^ (given[i % given.length] | 0);
  return diff === 0;
}

/** @param {Service} svc */
function status(svc) {
  return {
    name: svc.c.name,
    swarmService: svc.c.swarmService,
    state: svc.state,
    replicas: svc.replicas,
    openConnections: svc.open,
    lastActivity: new Date(svc.lastActivity).toISOString(),
    node: svc.c.node,
    hosts: svc.c.routes.map((r) => r.host),
    idleSeconds: svc.c.idleSeconds,
    heldUntil: svc.heldUntil > Date.now() ? new Date(svc.heldUntil).toISOString() : undefined,
    awakeUntil: svc.leased() ? new Date(svc.awakeUntil).toISOString() : undefined,
    lastError: svc.lastError || undefined,
  };
}

const API_HELP = "not found; the API is /api/status, /api/wake/<name>, /api/stop/<name>, /api/hold/<name>?seconds=N, /api/keepawake/<name>?seconds=N and /api/release/<name>";

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {string} url */
function api(req, res, url) {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? "" : url.slice(q + 1);
  if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return reply(res, 200, "ok\n");
  if (!path.startsWith("/api/")) return replyJson(res, 404, { error: API_HELP });
  if (!authorized(req)) return replyJson(res, 401, { error: "Authorization: Bearer <token> required" }, { "www-authenticate": 'Bearer realm="jit"' });
  const m = /^\/api\/(status|wake|stop|hold|keepawake|release)(?:\/(.*))?$/.exec(path);
  if (!m) return replyJson(res, 404, { error: API_HELP });
  const [, action, rawName] = m;
  const method = action === "status" ? "GET" : "POST";
  if (action === "status" ? rawName !== undefined : !rawName) return replyJson(res, 404, { error: `not found; use /api/${action}${action === "status" ? "" : "/<name>"}` });
  if (req.method !== method) return replyJson(res, 405, { error: `use ${method}` }, { allow: method });
  if (action === "status") {
    const nodes = cfg.nodes.map((n) => ({ name: n.name, jitBudgetBytes: n.jitBudgetBytes, reservedBytes: services.filter((s) => s.c.node === n.name && s.replicas > 0).reduce((sum, s) => sum + s.c.reservationBytes, 0) }));
    return replyJson(res, 200, { services: services.map(status), nodes });
  }
  let name;
  try {
    name = decodeURIComponent(/** @type {string} */ (rawName));
  } catch {
    return replyJson(res, 400, { error: "the name is not valid percent-encoding" });
  }
  const svc = byName.get(name);
  if (!svc) return replyJson(res, 404, { error: `no just-in-time service is called ${JSON.stringify(name)}`, services: services.map((s) => s.c.name) });
  const force = /(?:^|&)force=(?:true|1)(?:&|$)/.test(query);
  if (action === "wake") apiWake(svc, res);
  else if (action === "hold") apiHold(svc, res, query);
  else if (action === "keepawake") apiKeepAwake(svc, res, query);
  else if (action === "release") {
    // Ends a hold and a keep-awake lease alike; a lease ends now, so the idle time starts now.
    svc.heldUntil = 0;
    if (svc.leased()) svc.awakeUntil = Date.now();
    log("release", { service: svc.c.name });
    replyJson(res, 200, status(svc));
  } else apiStop(svc, res, force);
}

/** The longest hold or keep-awake lease: a backup or restore that takes longer renews it. */
const MAX_HOLD_SECONDS = 6 * 3600;

/**
 * The `seconds=N` of a hold or a keep-awake lease (1 to MAX_HOLD_SECONDS); undefined once it has
 * answered 400.
 * @param {http.ServerResponse} res @param {string} query @returns {number | undefined}
 */
function leaseSeconds(res, query) {
  const m = /(?:^|&)seconds=(\d{1,6})(?:&|$)/.exec(query);
  const seconds = m ? Number(m[1]) : NaN;
  if (seconds >= 1 && seconds <= MAX_HOLD_SECONDS) return seconds;
  replyJson(res, 400, { error: `give ?seconds=N, from 1 to ${MAX_HOLD_SECONDS}` });
  return undefined;
}

/**
 * Keeps a sleeping service asleep for `seconds` (the backup agent's call): wakes are refused with
 * 503 and Retry-After meanwhile. A service awake, starting or stopping is refused with 409: the
 * agent backs up only what sleeps.
 * @param {Service} svc @param {http.ServerResponse} res @param {string} query
 */
function apiHold(svc, res, query) {
  const seconds = leaseSeconds(res, query);
  if (seconds === undefined) return;
  if (svc.leased()) return replyJson(res, 409, { ...status(svc), error: `${svc.c.name} is kept awake until ${new Date(svc.awakeUntil).toISOString()}; it can be held only while it sleeps` });
  if (svc.replicas > 0 || svc.waking || svc.stopping) return replyJson(res, 409, { ...status(svc), error: `${svc.c.name} is not asleep (${svc.state}); it can be held only while it sleeps` });
  svc.heldUntil = Date.now() + seconds * 1000;
  log("hold", { service: svc.c.name, seconds });
  replyJson(res, 200, status(svc));
}

/**
 * Keeps the service awake for `seconds` (the backup agent's call, for the repository's service):
 * it is woken as by /api/wake if asleep (the node's memory budget applies), and until the lease
 * ends (or /api/release) it is neither stopped for idleness nor evicted. A service held asleep (a
 * backup or restore of its own volume) gets 409; a wake that fails ends the lease.
 * @param {Service} svc @param {http.ServerResponse} res @param {string} query
 */
function apiKeepAwake(svc, res, query) {
  const seconds = leaseSeconds(res, query);
  if (seconds === undefined) return;
  if (svc.heldUntil > Date.now()) return replyJson(res, 409, { ...status(svc), error: `${svc.c.name} is held asleep (its volume is being backed up or restored) until ${new Date(svc.heldUntil).toISOString()}; it cannot be kept awake meanwhile` });
  const until = Date.now() + seconds * 1000;
  svc.awakeUntil = until;
  log("keepawake", { service: svc.c.name, seconds });
  apiWake(svc, res, () => {
    if (svc.awakeUntil === until) svc.awakeUntil = 0;
  });
}

/**
 * 200 if awake, 202 once the wake has asked Swarm for the replicas, 503 if it cannot be woken
 * (after `onFail`).
 * @param {Service} svc @param {http.ServerResponse} res @param {() => void} [onFail]
 */
function apiWake(svc, res, onFail = noop) {
  svc.lastActivity = Date.now();
  if (svc.ready && !svc.stopping) return replyJson(res, 200, status(svc));
  wake(svc, Date.now());
  svc.scaled.then(
    () => replyJson(res, 202, status(svc)),
    (err) => {
      onFail();
      replyJson(res, 503, { ...status(svc), error: messageOf(err) }, { "retry-after": err instanceof WakeError ? err.retryAfter : 30 });
    },
  );
}

/** @param {Service} svc @param {http.ServerResponse} res @param {boolean} force */
function apiStop(svc, res, force) {
  if (!force && (svc.open > 0 || svc.waking || svc.leased())) {
    const why = svc.open > 0 ? `${svc.open} open connection(s)` : svc.waking ? "a wake in progress" : `kept awake until ${new Date(svc.awakeUntil).toISOString()}`;
    return replyJson(res, 409, { ...status(svc), error: `${svc.c.name} is in use (${why}); add ?force=true to stop it anyway` });
  }
  const waking = svc.waking;
  svc.stopRequested = true;
  (waking ? waking.catch(noop) : Promise.resolve())
    .then(() => stop(svc, "api"))
    .then(
      () => replyJson(res, 200, status(svc)),
      (err) => replyJson(res, 502, { ...status(svc), error: messageOf(err) }),
    );
}

// ---------------------------------------------------------------------------------------------
// Metrics, in Prometheus' text format.

/** @param {string} v */
const label = (v) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function metrics() {
  /** @type {string[]} */
  const out = [];
  /** @param {string} name @param {string} type @param {string} help @param {Array<[string, number]>} rows */
  const family = (name, type, help, rows) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) out.push(`${name}${labels} ${value}`);
  };
  /** @param {Service} s @param {string} [more] */
  const of = (s, more) => `{service="${label(s.c.name)}"${more || ""}}`;
  family("jit_wakes_total", "counter", "Scale-ups from 0 replicas the helper made.", services.map((s) => [of(s), s.wakes]));
  family("jit_wake_failures_total", "counter", "Wakes that failed (no memory on the node, Docker API error, not ready in time).", services.map((s) => [of(s), s.wakeFailures]));
  out.push("# HELP jit_cold_start_seconds From the first request to a sleeping service until it answered.", "# TYPE jit_cold_start_seconds histogram");
  for (const s of services) {
    COLD_START_BUCKETS.forEach((b, i) => out.push(`jit_cold_start_seconds_bucket${of(s, `,le="${b}"`)} ${s.coldStart.buckets[i]}`));
    out.push(`jit_cold_start_seconds_bucket${of(s, ',le="+Inf"')} ${s.coldStart.count}`);
    out.push(`jit_cold_start_seconds_sum${of(s)} ${s.coldStart.sum}`, `jit_cold_start_seconds_count${of(s)} ${s.coldStart.count}`);
  }
  family("jit_services_awake", "gauge", "JIT services that are awake (answering).", [["", services.filter((s) => s.state === "awake").length]]);
  family("jit_requests_held", "gauge", "Requests waiting for their service to wake.", services.map((s) => [of(s), s.held]));
  family("jit_requests_held_total", "counter", "Requests that had to wait for their service to wake.", services.map((s) => [of(s), s.heldTotal]));
  family("jit_open_connections", "gauge", "Requests in flight and upgraded connections open, per service.", services.map((s) => [of(s), s.open]));
  family("jit_evictions_total", "counter", "Times the service was stopped to make room on its node for another.", services.map((s) => [of(s), s.evictions]));
  family("jit_stops_total", "counter", "Scale-downs to 0 replicas, by reason.", services.flatMap((s) => STOP_REASONS.map((r) => /** @type {[string, number]} */ ([of(s, `,reason="${r}"`), s.stops[r]]))));
  family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [["", process.memoryUsage.rss()]]);
  return `${out.join("\n")}\n`;
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function onMetricsRequest(req, res) {
  if ((req.url || "").split("?")[0] !== "/metrics") return reply(res, 404, "metrics are at /metrics\n");
  if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, "use GET\n", { allow: "GET" });
  reply(res, 200, metrics(), { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
}

// ---------------------------------------------------------------------------------------------
// Start.

/**
 * Garbage, oversized headers and half-sent requests end here: answer the way Node would by
 * default, and log (sometimes) instead of crashing.
 * @param {Error & { code?: string }} err @param {import("stream").Duplex} socket
 */
function onClientError(err, socket) {
  const sent = /** @type {{ _httpMessage?: { headersSent?: boolean } }} */ (/** @type {unknown} */ (socket))._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || (sent && sent.headersSent)) {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  logSometimes("client-error", "client-error", { code: err.code || "unknown", status });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

/** @param {http.Server} server @param {number} port @param {string} what @returns {Promise<number>} */
function listen(server, port, what) {
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`cannot listen on ${what} port ${port}: ${err.message}`)));
    server.listen(port, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/** `--healthcheck [config]`: the image has no curl or wget, so the helper asks itself. */
function healthcheck(/** @type {string} */ path) {
  let port = 8080;
  try {
    const raw = JSON.parse(fs.readFileSync(path, "utf8"));
    if (raw && Number.isInteger(raw.listen)) port = raw.listen;
  } catch {
    // The default port it is.
  }
  const req = http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 3000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1));
  req.on("timeout", () => process.exit(1));
  req.on("error", () => process.exit(1));
}

async function main() {
  if (process.argv[2] === "--healthcheck") return healthcheck(process.argv[3] || DEFAULT_CONFIG);
  const path = process.argv[2] || DEFAULT_CONFIG;
  try {
    cfg = loadConfig(path);
    token = Buffer.from(readToken(cfg.tokenFile), "utf8");
  } catch (err) {
    process.stderr.write(`jit: ${messageOf(err)}\n`);
    process.exit(2);
  }
  services = cfg.services.map((c) => new Service(c));
  for (const svc of services) {
    byName.set(svc.c.name, svc);
    for (const r of svc.c.routes) routes.set(r.host, { svc, port: r.port });
  }
  // Never fatal: one bad request must not take every JIT service's proxy down with it.
  process.on("uncaughtException", (err) => {
    const where = err && err.stack ? err.stack.split("\n").slice(0, 3).join(" | ") : String(err);
    logSometimes(`uncaught ${where}`, "uncaught-exception", { error: where });
  });
  process.on("unhandledRejection", (err) => logSometimes(`unhandled ${messageOf(err)}`, "unhandled-rejection", { error: messageOf(err) }));

  const server = http.createServer({ requestTimeout: 0, headersTimeout: 20000, keepAliveTimeout: 95000 }, onRequest);
  // Longer than Traefik's idle connection timeout (90 s), so Traefik closes first and never sends
  // a request into a socket this side is closing.
  server.keepAliveTimeout = 95000;
  server.on("upgrade", onUpgrade);
  server.on("clientError", onClientError);
  const metricsServer = http.createServer(onMetricsRequest);
  metricsServer.on("clientError", onClientError);
  let ports;
  try {
    ports = [await listen(server, cfg.listen, "listen"), await listen(metricsServer, cfg.metricsListen, "metricsListen")];
  } catch (err) {
    log("exit", { error: messageOf(err) });
    process.exit(1);
  }
  for (const s of [server, metricsServer]) s.on("error", (err) => logSometimes(`server ${err.message}`, "server-error", { error: err.message }));
  log("listening", { port: ports[0], metricsPort: ports[1], apiHost: cfg.apiHost, services: services.map((s) => s.c.name).join(","), node: process.version });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.once(signal, () => {
      log("exit", { signal });
      server.close();
      metricsServer.close();
      setTimeout(() => process.exit(0), 100);
    });
  }
  // Nothing is scaled at start: the swarm's replicas are read, and what runs stays up.
  await check();
  log("state", { services: services.map((s) => `${s.c.name}=${s.state}`).join(",") });
  setInterval(() => check().catch((err) => log("check-failed", { error: messageOf(err) })), cfg.checkSeconds * 1000);
}

main().catch((err) => {
  log("exit", { error: messageOf(err) });
  process.exit(1);
});
