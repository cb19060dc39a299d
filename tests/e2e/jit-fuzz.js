// A bounded, seeded fuzz of malformed requests against the JIT helper, run by the e2e test INSIDE the
// helper's own container (`docker exec -i <container> node - SEED COUNT API_HOST`), so it reaches
// the helper's port directly on 127.0.0.1:8080, past Traefik (which would reject much of it before
// the helper saw it). Node 18, standard library only, plain CommonJS: it is piped to `node -`.
//
// Each case is raw bytes over TCP: a request assembled from broken parts (methods, targets, Host
// headers, tokens, framing, upgrade headers, bodies) or plain garbage. Hosts are the API's, unknown
// ones and malformed ones, never an app's: a well-formed request to an app's host would wake it,
// which is behaviour, not a fuzz finding. Prints one JSON line: counts by status, and every case
// that got a 5xx (with its bytes), for the test to assert on.
"use strict";
const net = require("net");

const [seedArg, countArg, apiHost] = process.argv.slice(2);
let seed = Number(seedArg) >>> 0 || 1;
const COUNT = Number(countArg) || 300;

function rand() {
  // mulberry32: small and deterministic, so a failing case can be replayed from the seed.
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const bytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
const junk = (n) => bytes(n).toString("latin1");
// Odd but legal in a request line or header value: what gets past Node's parser to the helper.
const ODD = "%;,'\"<>{}|\\^`~!$&()*+=:@[]/?#.-_abcXYZ019";
const odd = (n) => Array.from({ length: n }, () => pick(ODD.split(""))).join("");

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"];
const BAD_METHODS = ["G\u0000T", "get", "", "X".repeat(300)];
const TARGETS = () => [
  "/api/status",
  "/api/status?x=%ZZ",
  "/api/wake/",
  "/api/wake/%",
  "/api/wake/%ZZ",
  "/api/wake/" + encodeURIComponent(junk(12)),
  "/api/wake/vaultwarden%2Fvaultwarden?force=" + odd(3),
  "/api/" + odd(30),
  "/api/wake/" + odd(30),
  "/api/stop/../../etc/passwd",
  "/api/stop/" + "a".repeat(4000),
  "/api/" + "x/".repeat(200),
  "/__jit/ready?attempt=" + odd(4),
  "/__jit/ready?attempt=99999999999999999999",
  "/healthz",
  "*",
  "http://" + apiHost + "/api/status",
  "//api//status",
  "/%00",
  "/" + junk(20).replace(/[\r\n ]/g, "_"),
  "",
];
const HOSTS = () => [apiHost, apiHost, apiHost.toUpperCase(), `${apiHost}:443`, `${apiHost}:99999`, `${apiHost}.`, "unknown.example", "", "[::1]", "a".repeat(1000), odd(12), `${apiHost}\u0000x`, junk(8).replace(/[\r\n]/g, "")];
const AUTH = () => [null, "Bearer", "Bearer ", "Bearer " + odd(30), "Basic Zm9vOmJhcg==", "bearer x", "Bearer " + "t".repeat(10000)];

function request() {
  const kind = rand();
  if (kind < 0.1) return bytes(1 + Math.floor(rand() * 600)); // garbage
  const lines = [];
  // Mostly well-formed request lines, so that most cases reach the helper's own code, not only
  // Node's parser.
  const version = rand() < 0.85 ? pick(["HTTP/1.1", "HTTP/1.0"]) : pick(["HTTP/2.0", "HTTP/9", "FOO"]);
  lines.push(`${pick(rand() < 0.9 ? METHODS : BAD_METHODS)} ${pick(TARGETS())} ${version}`);
  const host = pick(HOSTS());
  if (rand() < 0.9) lines.push(`Host: ${host}`);
  if (rand() < 0.1) lines.push(`Host: ${pick(HOSTS())}`); // a second Host
  const auth = pick(AUTH());
  if (auth !== null) lines.push(`Authorization: ${auth}`);
  if (rand() < 0.3) lines.push(`Accept: ${pick(["text/html", "*/*", "application/json", odd(10)])}`);
  if (rand() < 0.2) lines.push("Upgrade: websocket", "Connection: Upgrade", ...(rand() < 0.5 ? ["Sec-WebSocket-Key: " + junk(6).replace(/[\r\n]/g, "")] : []));
  let body = Buffer.alloc(0);
  const framing = rand();
  if (framing < 0.15) {
    body = bytes(Math.floor(rand() * 200));
    lines.push(`Content-Length: ${pick([body.length, body.length + 50, -1, "abc", "99999999999999999999"])}`);
  } else if (framing < 0.25) {
    lines.push("Transfer-Encoding: chunked");
    body = Buffer.from(pick(["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhel", "0\r\n\r\n", "ffffffffffffffff\r\n"]));
  } else if (framing < 0.3) {
    lines.push("Content-Length: 5", "Transfer-Encoding: chunked");
    body = Buffer.from("0\r\n\r\n");
  }
  if (rand() < 0.1) lines.push(`X-Big: ${"b".repeat(20000)}`);
  if (rand() < 0.03) lines.push("Bad Header Line");
  const head = lines.join(rand() < 0.9 ? "\r\n" : "\n") + "\r\n\r\n";
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

function send(payload) {
  return new Promise((resolve) => {
    const socket = net.connect(8080, "127.0.0.1");
    let answer = "";
    const done = (status) => {
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(3000, () => done(answer ? answer.slice(9, 12) : "timeout"));
    socket.on("connect", () => socket.end(payload));
    socket.on("data", (d) => {
      answer += d.toString("latin1");
      if (answer.length >= 12) done(answer.slice(9, 12));
    });
    socket.on("error", () => done(answer ? answer.slice(9, 12) : "reset"));
    socket.on("end", () => done(answer ? answer.slice(9, 12) : "closed"));
  });
}

(async () => {
  const byStatus = {};
  const fivexx = [];
  for (let i = 0; i < COUNT; i++) {
    const payload = request();
    const status = await send(payload);
    byStatus[status] = (byStatus[status] || 0) + 1;
    if (/^5/.test(status)) fivexx.push({ case: i, status, request: payload.toString("latin1").slice(0, 300) });
  }
  process.stdout.write(JSON.stringify({ seed: Number(seedArg), count: COUNT, byStatus, fivexx }) + "\n");
})();
