/**
 * The GitOps runner's HTTP side:
 * - `POST /hooks`: push webhooks (gitops/webhook.ts checks them); a push to the followed branch
 *   triggers a run, anything else is acknowledged and ignored;
 * - `GET /status` and `POST /run`: the owner's, with `Authorization: Bearer <status token>`;
 * - `GET /metrics`: Prometheus text, for the scrape on the monitoring network (Traefik does not route it);
 * - `GET /healthz`.
 */
import * as crypto from "crypto";
import * as http from "http";
import { RunnerStatus, renderMetrics } from "./status";
import { SeenDeliveries, verifyWebhook } from "./webhook";

export interface ServerOptions {
  readonly branch: string;
  readonly repository: string;
  /** Read at each request, so a rotated secret applies without a restart; undefined: webhooks are refused. */
  readonly webhookSecret: () => string | undefined;
  readonly statusToken: () => string;
  readonly status: () => RunnerStatus;
  readonly trigger: (reason: string) => boolean;
  readonly log: (line: string) => void;
  /** Largest body taken, in bytes (GitHub's pushes are capped at 25 MB; ours are small). */
  readonly maxBody?: number;
}

function sameToken(given: string, expected: string): boolean {
  const a = crypto.createHash("sha256").update(given).digest();
  const b = crypto.createHash("sha256").update(expected).digest();
  return expected.length > 0 && crypto.timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = type === "application/json" ? JSON.stringify(body, null, 2) + "\n" : String(body);
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(text);
}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function createServer(options: ServerOptions): http.Server {
  const seen = new SeenDeliveries();
  const authorized = (req: http.IncomingMessage) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    return m !== null && sameToken(m[1], options.statusToken());
  };
  return http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://runner");
    try {
      if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, "ok\n", "text/plain");
      if (req.method === "GET" && url.pathname === "/metrics") return send(res, 200, renderMetrics(options.status()), "text/plain; version=0.0.4");
      if (url.pathname === "/hooks" && req.method === "POST") {
        const secret = options.webhookSecret();
        if (!secret) return send(res, 404, { error: "webhooks are off: set homelab:gitopsWebhookSecret to take them" });
        const body = await readBody(req, options.maxBody ?? 5 * 1024 * 1024);
        if (!body) return send(res, 413, { error: "body too large" });
        const result = verifyWebhook(req.headers, body, secret, seen);
        if (!result.ok) {
          options.log(`webhook refused (${result.status}): ${result.reason}`);
          return send(res, result.status, { error: result.reason });
        }
        if (result.event !== "push" || result.ref !== `refs/heads/${options.branch}`) {
          return send(res, 202, { ignored: `${result.event}${result.ref ? ` to ${result.ref}` : ""}: the runner follows refs/heads/${options.branch}` });
        }
        const started = options.trigger(`webhook ${result.provider} ${result.delivery}`);
        options.log(`webhook ${result.provider} ${result.delivery}: push of ${result.after?.slice(0, 12) ?? "?"} to ${options.branch}; ${started ? "run started" : "queued behind the current run"}`);
        return send(res, 202, { queued: !started, started });
      }
      if (url.pathname === "/status" || url.pathname === "/run") {
        if (!authorized(req)) {
          res.setHeader("WWW-Authenticate", 'Bearer realm="homelab gitops"');
          return send(res, 401, { error: "wants Authorization: Bearer <token> (pulumi stack output gitopsStatusToken --show-secrets)" });
        }
        if (req.method === "GET" && url.pathname === "/status") return send(res, 200, { repository: options.repository, branch: options.branch, ...options.status() });
        if (req.method === "POST" && url.pathname === "/run") {
          const started = options.trigger("manual");
          return send(res, 202, { started, queued: !started });
        }
      }
      return send(res, 404, { error: "not found" });
    } catch (error) {
      options.log(`request ${req.method} ${url.pathname} failed: ${(error as Error).message}`);
      return send(res, 500, { error: "internal error" });
    }
  });
}
