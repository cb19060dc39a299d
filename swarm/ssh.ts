import { spawn } from "child_process";
import { ScriptInvocation } from "./scripts";

/** How to reach a node with the OpenSSH client, host keys checked against a known_hosts file. */
export interface SshTarget {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly privateKeyPath: string;
  /** known_hosts with the node's host key; without it the host key is not checked (say so where you use it). */
  readonly knownHostsPath?: string;
}

export interface SshResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class SshError extends Error {
  constructor(readonly target: SshTarget, readonly result: SshResult, what: string) {
    super(`${what} on ${target.user}@${target.address} failed (exit ${result.code}): ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`);
    this.name = "SshError";
  }
}

export function sshArgs(target: SshTarget, connectTimeoutSeconds = 5): string[] {
  const hostKeyOptions = target.knownHostsPath
    ? ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${target.knownHostsPath}`]
    : ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"];
  return [
    "-i", target.privateKeyPath,
    "-p", String(target.port),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", `ConnectTimeout=${connectTimeoutSeconds}`,
    "-o", "LogLevel=ERROR",
    ...hostKeyOptions,
    `${target.user}@${target.address}`,
  ];
}

/** Runs a script invocation over SSH; resolves with its exit code and output (never rejects on non-zero). */
export function runOverSsh(target: SshTarget, invocation: ScriptInvocation): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", [...sshArgs(target), invocation.command], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 255, stdout, stderr }));
    child.stdin.end(invocation.stdin);
  });
}
