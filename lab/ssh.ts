/** SSH to the nodes as core: the lab key, known_hosts, waiting for a node to answer, running commands. */
import * as fs from "fs";
import { LabNodeSpec, LabSpec, containerName, labPaths } from "./config";
import { RunResult, run, sleep } from "./exec";
import { docker } from "./host";
import { inspectContainer, nodeSpec } from "./nodes";

export async function ensureKey(): Promise<void> {
  const p = labPaths();
  fs.mkdirSync(p.sshDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(p.privateKey) || !fs.existsSync(p.publicKey)) {
    fs.rmSync(p.privateKey, { force: true });
    fs.rmSync(p.publicKey, { force: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f", p.privateKey]);
  }
  fs.chmodSync(p.privateKey, 0o600);
}

/** OpenSSH client arguments to reach a lab node as core with the lab key, its host key checked. */
function sshArgs(node: { address: string; port?: number; sshPort?: number }, extra: string[] = []): string[] {
  const p = labPaths();
  // ssh takes the first value given for an option: callers' options go first so they win.
  return [
    ...extra,
    "-F", "/dev/null",
    "-i", p.privateKey,
    "-p", String(node.port ?? node.sshPort ?? 22),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${p.knownHosts}`,
    `core@${node.address}`,
  ];
}

/** Host keys read through `docker exec` (a trusted channel), as known_hosts lines. */
async function readHostKeys(node: LabNodeSpec): Promise<string[] | undefined> {
  const files = ["ed25519", "ecdsa", "rsa"].map((t) => `/etc/ssh/ssh_host_${t}_key.pub`);
  const r = await docker(["exec", containerName(node.name), "cat", ...files], { allowFail: true });
  if (r.code !== 0) return undefined;
  const keys = r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^(ssh-|ecdsa-)\S+ \S+/.test(l));
  if (keys.length !== files.length) return undefined;
  return keys.map((k) => `${node.address},${node.name} ${k.split(/\s+/).slice(0, 2).join(" ")}`);
}

function updateKnownHosts(node: LabNodeSpec, lines: string[]): void {
  const p = labPaths();
  const existing = fs.existsSync(p.knownHosts) ? fs.readFileSync(p.knownHosts, "utf8").split("\n") : [];
  const kept = existing.filter((l) => l && l.split(" ")[0] !== `${node.address},${node.name}`);
  fs.writeFileSync(p.knownHosts, [...kept, ...lines].join("\n") + "\n", { mode: 0o644 });
}

/** Waits until `core` logs in over SSH with the lab key (strict host key checking) and docker answers. */
export async function waitForNode(node: LabNodeSpec, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let last = "";
  let keysKnown = false;
  while (Date.now() < deadline) {
    if (!keysKnown) {
      const lines = await readHostKeys(node);
      if (lines) {
        updateKnownHosts(node, lines);
        keysKnown = true;
      }
    }
    if (keysKnown) {
      const r = await run("ssh", [...sshArgs(node), "docker", "version", "--format", "{{.Server.Version}}"], {
        allowFail: true,
        timeoutMs: 15000,
      });
      if (r.code === 0) return;
      last = r.stderr.trim();
    } else {
      const st = await inspectContainer(node.name);
      if (st && !st.running) {
        const logs = await docker(["logs", "--tail", "40", containerName(node.name)], { allowFail: true });
        throw new Error(`node ${node.name} stopped while booting:\n${logs.stdout}${logs.stderr}`);
      }
      last = "no SSH host keys yet";
    }
    await sleep(250);
  }
  throw new Error(`node ${node.name} (${node.address}) not reachable over SSH in ${budgetMs / 1000} s: ${last}`);
}

export function sshBudgetMs(spec: LabSpec): number {
  return spec.sshWaitMs > 0 ? spec.sshWaitMs : 180000;
}

/** Runs `command` (a remote shell command line) on a node as core over real SSH. */
export async function sshExec(
  node: string | { address: string; port?: number },
  command: string,
  opts: { input?: string; timeoutMs?: number; sshOptions?: string[] } = {},
): Promise<RunResult> {
  const target = typeof node === "string" ? nodeSpec(node).node : node;
  return run("ssh", [...sshArgs(target, opts.sshOptions ?? []), command], {
    allowFail: true,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 60000,
  });
}
