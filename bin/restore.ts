/**
 * `npm run restore -- <volume>… | --all [--snapshot ID] [--stack NAME] [--address IP]`: restores
 * volumes from the backups, through the backup agent's API (services/backup/README.md). The agent
 * stops the volume's services, empties it, restores the snapshot on the node the services are
 * pinned to, and starts them again; this command asks for it and follows it, one volume at a time.
 *
 * It reads the agent's URL, its token and the homelab CA from `pulumi stack output` (run in this
 * project, for the selected stack or --stack). The token goes in a header only, never on a command
 * line or in the output. --address connects to that IP for the agent's host name (a manager's
 * address), for when the laptop's DNS does not resolve the homelab's names yet (after a rebuild).
 * `--list` prints the volumes and their last snapshots instead.
 *
 * Volumes are not Pulumi resources: neither `pulumi preview` nor `pulumi up` can undo a restore.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";

export interface AgentApi {
  /** https://backup.<domain> */
  readonly url: string;
  readonly token: string;
  /** The homelab CA certificate (PEM). */
  readonly ca: string;
  /** Connect here instead of resolving the URL's host. */
  readonly address?: string;
}

interface RestoreState {
  snapshot: string;
  result: "running" | "ok" | "failed";
  error?: string;
  started?: string;
  finished?: string;
}

export interface VolumeStatus {
  swarmVolume: string;
  node: string;
  services: string[];
  lastSuccess?: string | null;
  lastSnapshot?: string | null;
  lastResult?: string | null;
  lastError?: string | null;
  lastDurationSeconds?: number | null;
  restore?: RestoreState | null;
}

export interface AgentStatus {
  running: { kind: string; reason: string; volume?: string } | null;
  queued: number;
  volumes: VolumeStatus[];
}

/** One call to the agent's API; a non-2xx answer is an error with the agent's own message. */
export function call(api: AgentApi, method: "GET" | "POST", urlPath: string): Promise<{ status: number; body: any }> {
  const url = new URL(urlPath, api.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method,
        host: api.address ?? url.hostname,
        servername: url.hostname,
        port: url.port || 443,
        path: `${url.pathname}${url.search}`,
        ca: api.ca,
        headers: { Host: url.host, Authorization: `Bearer ${api.token}` },
        timeout: 20000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: kept as text for the error
          }
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${url.pathname}: ${res.statusCode} ${typeof body === "string" ? body : JSON.stringify(body)}`));
          else resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.href}: no answer within 20 s`)));
    req.on("error", (err) => reject(new Error(`${method} ${url.href}: ${err.message}. Is the backup stack deployed (pulumi stack output stacksDeployed) and ${url.hostname} reachable? Else pass --address <a manager's IP>.`)));
    req.end();
  });
}

export async function agentStatus(api: AgentApi): Promise<AgentStatus> {
  return (await call(api, "GET", "/api/status")).body as AgentStatus;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Restores one volume and waits for the agent to finish it. Resolves with the restore's state (ok),
 * throws with the agent's error (failed, or not done within `timeoutSeconds`).
 */
export async function restoreVolume(api: AgentApi, volume: string, snapshot: string, log: (line: string) => void, timeoutSeconds = 3600): Promise<RestoreState & { seconds: number }> {
  const t0 = Date.now();
  const before = (await agentStatus(api)).volumes.find((v) => v.swarmVolume === volume);
  if (!before) throw new Error(`the agent has no volume ${volume}. Fix: one of ${(await agentStatus(api)).volumes.map((v) => v.swarmVolume).join(", ")} (npm run restore -- --list)`);
  const asked = await call(api, "POST", `/api/restore/${encodeURIComponent(volume)}?snapshot=${encodeURIComponent(snapshot)}`);
  log(`${volume}: restore of ${snapshot} ${asked.body.status ?? "asked"} on ${before.node} (services ${before.services.join(", ")} stop meanwhile)`);
  const previousStart = before.restore?.started;
  let lastLine = "";
  for (;;) {
    await sleep(2000);
    const status = await agentStatus(api);
    const v = status.volumes.find((x) => x.swarmVolume === volume)!;
    const r = v.restore;
    const seconds = (Date.now() - t0) / 1000;
    if (r && r.started !== previousStart && r.result !== "running") {
      if (r.result === "ok") {
        log(`${volume}: restored from ${r.snapshot} in ${seconds.toFixed(1)} s; its services are started again`);
        return { ...r, seconds };
      }
      // The agent says "left stopped" only once the volume was touched; a failed lookup stopped nothing.
      const leftStopped = /left stopped/.test(r.error ?? "") ? "Its services are left stopped so that nothing starts on a half-restored volume. " : "";
      throw new Error(`${volume}: the restore failed: ${r.error}. ${leftStopped}Fix the cause, then run npm run restore -- ${volume} again.`);
    }
    const line = status.running?.volume === volume ? `${volume}: ${status.running.kind} running (${seconds.toFixed(0)} s)` : `${volume}: waiting for the agent (${status.running ? `${status.running.kind} of ${status.running.volume ?? "every volume"} first` : "queued"})`;
    if (line !== lastLine || Math.round(seconds) % 30 === 0) log(line);
    lastLine = line;
    if (seconds > timeoutSeconds) throw new Error(`${volume}: the restore did not finish within ${timeoutSeconds} s; the agent may still be at it (GET ${api.url}/api/status).`);
  }
}

/** The agent's URL, token and CA from `pulumi stack output` of this project. */
export function apiFromStackOutputs(projectDir: string, stack?: string, address?: string): AgentApi {
  const out = spawnSync("pulumi", ["stack", "output", "--json", "--show-secrets", ...(stack ? ["--stack", stack] : [])], { cwd: projectDir, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`pulumi stack output failed: ${out.stderr.trim()}. Fix: run this in the homelab project after pulumi up, with the stack selected (or --stack NAME).`);
  return apiFromOutputs(JSON.parse(out.stdout), projectDir, address);
}

export function apiFromOutputs(outputs: Record<string, any>, projectDir: string, address?: string): AgentApi {
  const url = outputs.urls?.["backup/agent"];
  const token = outputs.generatedSecrets?.["backup/backup_token"];
  if (!url || !token) throw new Error("the stack has no backup agent (outputs urls[\"backup/agent\"], generatedSecrets[\"backup/backup_token\"]). Fix: backups are on by default when a stack has a volume; check homelab:platform.backup and pulumi up.");
  return { url, token, ca: fs.readFileSync(path.resolve(projectDir, outputs.caCertificateFile), "utf8"), address };
}

async function main(argv: string[]): Promise<void> {
  const flags = new Map<string, string>();
  const volumes: string[] = [];
  let all = false;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--all") all = true;
    else if (a === "--list") list = true;
    else if (["--snapshot", "--stack", "--address"].includes(a)) flags.set(a, argv[++i] ?? "");
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}. Usage: npm run restore -- <volume>… | --all | --list [--snapshot ID] [--stack NAME] [--address IP]`);
    else volumes.push(a);
  }
  if (!list && !all && volumes.length === 0) throw new Error("name the volumes to restore (e.g. vaultwarden_data), or --all, or --list to see them.");
  const api = apiFromStackOutputs(process.cwd(), flags.get("--stack"), flags.get("--address"));
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const status = await agentStatus(api);
  if (list) {
    for (const v of status.volumes) log(`${v.swarmVolume} on ${v.node}: last good backup ${v.lastSuccess ?? "none"} (snapshot ${v.lastSnapshot ?? "-"}), last result ${v.lastResult ?? "-"}`);
    return;
  }
  const snapshot = flags.get("--snapshot") ?? "latest";
  if (all && snapshot !== "latest") throw new Error("--snapshot names one volume's snapshot: restore one volume with it, or --all with the latest of each.");
  const targets = all ? status.volumes.map((v) => v.swarmVolume) : volumes;
  for (const [i, volume] of targets.entries()) {
    log(`[${i + 1}/${targets.length}] ${volume}`);
    await restoreVolume(api, volume, snapshot, log);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`restore: ${err.message}\n`);
    process.exit(1);
  });
}
