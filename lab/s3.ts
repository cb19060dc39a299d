/**
 * The S3 STAND-IN (lab/s3-standin: gofakes3, in memory, no signature check) as a process on
 * loopback, for tests of a Pulumi `s3://` state backend. Built with the host's Go once per source
 * version, cached outside the tree.
 */
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, run, until } from "./exec";

const SOURCE = path.join(__dirname, "s3-standin");

export interface S3Standin {
  /** `http://<host>:<port>` */
  readonly endpoint: string;
  /** A Pulumi DIY backend URL for `bucket` (AWS SDK v2 form: path-style, plain HTTP). */
  backendUrl(bucket: string): string;
  /** Creates a bucket (an owner makes one on the NAS once). */
  createBucket(bucket: string): Promise<void>;
  stop(): void;
}

async function build(log: (line: string) => void): Promise<string> {
  const key = crypto.createHash("sha256");
  for (const f of ["main.go", "go.mod", "go.sum"]) key.update(fs.readFileSync(path.join(SOURCE, f)));
  const dir = path.join(process.env.HOMELAB_LAB_IMAGE_CACHE ?? path.join(os.homedir(), ".cache", "homelab", "lab-images"), `s3-standin-${key.digest("hex").slice(0, 12)}`);
  const bin = path.join(dir, "s3-standin");
  if (fs.existsSync(bin)) return bin;
  log(`building the S3 stand-in (lab/s3-standin, gofakes3) into ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  const go = fs.existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
  await run(go, ["build", "-trimpath", "-o", `${bin}.tmp`, "."], { cwd: SOURCE, env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod -buildvcs=false", CGO_ENABLED: "0" } });
  fs.renameSync(`${bin}.tmp`, bin);
  return bin;
}

/** `host`: the address it listens on (loopback; the lab's bridge address for the lab's nodes to reach it). */
export async function startS3Standin(log: (line: string) => void, host = "127.0.0.1"): Promise<S3Standin> {
  const bin = await build(log);
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ["-listen", `${host}:${port}`], { stdio: "ignore" });
  const endpoint = `http://${host}:${port}`;
  await until("the S3 stand-in answers", 30, async () => ((await fetch(`${endpoint}/`)).status < 500 ? true : undefined), 200);
  return {
    endpoint,
    backendUrl: (bucket) => `s3://${bucket}?endpoint=${encodeURIComponent(endpoint)}&use_path_style=true&region=us-east-1`,
    createBucket: async (bucket) => {
      const r = await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
      if (!r.ok) throw new Error(`creating bucket ${bucket}: ${r.status} ${await r.text()}`);
    },
    stop: () => void child.kill("SIGTERM"),
  };
}
