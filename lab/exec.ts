/** Small process helpers for the lab (no shell in between: arguments go as they are). */
import * as http from "http";
import { spawn } from "child_process";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  /** Kill the process after this many ms (counts as a failure). */
  timeoutMs?: number;
  /** Stream the child's stderr to ours (long steps such as the image build). */
  inheritStderr?: boolean;
  /** Give the child our stdout, so what it prints can be piped on (e.g. into jq); not captured, nor teed. */
  inheritStdout?: boolean;
  /** Also copy the child's stdout to our stderr as it comes (progress of long commands), still capturing it. */
  teeStdout?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly result: RunResult,
  ) {
    super(`${cmd} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", opts.inheritStdout ? "inherit" : "pipe", opts.inheritStderr ? "inherit" : "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs)
        : undefined;
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (opts.teeStdout) process.stderr.write(d);
    });
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      const result = { code: timedOut ? 124 : (code ?? 1), stdout, stderr: timedOut ? stderr + "\n(timed out)" : stderr };
      const name = [cmd, ...args].join(" ").slice(0, 300);
      if (result.code !== 0 && !opts.allowFail) reject(new CommandError(name, result));
      else resolve(result);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it gives a value (anything but undefined), every `everyMs`; after `seconds`
 * an error naming `what` and the probe's last error.
 */
export async function until<T>(what: string, seconds: number, probe: () => T | undefined | Promise<T | undefined>, everyMs = 3000): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ""}`);
    await sleep(everyMs);
  }
}

/** A TCP port free on loopback right now (for a test's own server). */
export async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return port;
}
