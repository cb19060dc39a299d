/**
 * `npm run move-state -- <backend-url> [--stack NAME] [--no-preview]`: moves a stack's Pulumi state
 * from the backend this project is logged in to (or $PULUMI_BACKEND_URL) to another, e.g. the
 * s3:// bucket homelab:platform.gitops.backend names, so that the owner's laptop and the GitOps
 * runner share it (docs/gitops.md). Run it once, after the first `pulumi up` from the laptop.
 *
 * 1. `pulumi stack export` from the current backend (secrets stay encrypted, with this stack's
 *    passphrase: Pulumi.<stack>.yaml keeps its salt, so the same passphrase opens them);
 * 2. refuses if the new backend already has the stack (nothing is overwritten);
 * 3. `pulumi stack init` and `pulumi stack import` on the new backend;
 * 4. checks it: the same resources, and `pulumi preview --expect-no-changes` (unless --no-preview);
 * 5. `pulumi login <backend-url>`, so this laptop uses the new state from now on.
 * The old state is left as it was, for the owner to remove once they trust the new one. Progress
 * goes to stderr; the passphrase is read by pulumi from its own environment, never here.
 */
import { SpawnSyncReturns, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface MoveOptions {
  readonly backend: string;
  readonly stack: string;
  readonly preview: boolean;
  /** The project folder (Pulumi.yaml). */
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: (line: string) => void;
}

type Run = (args: string[], env?: NodeJS.ProcessEnv) => SpawnSyncReturns<string>;

function resourceUrns(exported: string): string[] {
  const state = JSON.parse(exported) as { deployment?: { resources?: { urn: string }[] } };
  return (state.deployment?.resources ?? []).map((r) => r.urn).sort();
}

export function moveState(o: MoveOptions): void {
  const run: Run = (args, env = o.env) => spawnSync("pulumi", [...args, "--non-interactive"], { cwd: o.cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const must = (what: string, r: SpawnSyncReturns<string>) => {
    if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n")}`);
    return r.stdout;
  };
  const target: NodeJS.ProcessEnv = { ...o.env, PULUMI_BACKEND_URL: o.backend };

  o.log(`1/5 exporting stack ${o.stack} from the current backend`);
  const exported = must("pulumi stack export", run(["stack", "export", "--stack", o.stack]));
  const urns = resourceUrns(exported);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-move-state-"));
  const file = path.join(dir, "state.json");
  try {
    // Secrets in it are ciphertexts; the file is still the owner's alone, and removed at the end.
    fs.writeFileSync(file, exported, { mode: 0o600 });

    o.log(`2/5 checking that ${o.backend} has no stack ${o.stack} yet`);
    const listed = run(["stack", "ls", "--json"], target);
    must(`pulumi stack ls on ${o.backend} (check the URL and the bucket's credentials: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`, listed);
    if ((JSON.parse(listed.stdout || "[]") as { name: string }[]).some((s) => s.name === o.stack || s.name.endsWith(`/${o.stack}`))) {
      throw new Error(`${o.backend} already has a stack ${o.stack}: nothing was moved or overwritten. Fix: if that state is the one to keep, just run pulumi login ${o.backend}; else remove it there first (pulumi stack rm --force ${o.stack} with PULUMI_BACKEND_URL=${o.backend}).`);
    }

    o.log(`3/5 creating the stack there and importing the state (${urns.length} resources)`);
    must("pulumi stack init", run(["stack", "init", o.stack, "--secrets-provider", "passphrase"], target));
    must("pulumi stack import", run(["stack", "import", "--stack", o.stack, "--file", file], target));

    o.log("4/5 checking the moved state");
    const moved = resourceUrns(must("pulumi stack export (new backend)", run(["stack", "export", "--stack", o.stack], target)));
    if (JSON.stringify(moved) !== JSON.stringify(urns)) throw new Error(`the state on ${o.backend} has ${moved.length} resources, the old one ${urns.length}. The old state is untouched; this laptop still uses it.`);
    if (o.preview) must("pulumi preview --expect-no-changes on the new backend (the old state is untouched; this laptop still uses it)", run(["preview", "--stack", o.stack, "--expect-no-changes"], target));

    o.log(`5/5 pulumi login ${o.backend}`);
    must("pulumi login", run(["login", o.backend], o.env));
    o.log(`moved: this laptop and the GitOps runner now share the state on ${o.backend}. The old state is left as it was; remove it once you trust the new one.`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function currentStack(cwd: string): string {
  const r = spawnSync("pulumi", ["stack", "--show-name", "--non-interactive"], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error("no stack is selected here. Fix: pulumi stack select <stack>, or pass --stack NAME.");
  return r.stdout.trim();
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const stackArg = flag("--stack");
  const noPreview = args.includes("--no-preview");
  const positional = args.filter((a) => a !== "--no-preview");
  const backend = positional[0];
  if (!backend || positional.length > 1) {
    process.stderr.write("usage: npm run move-state -- <backend-url> [--stack NAME] [--no-preview]\n  e.g. npm run move-state -- 's3://homelab-pulumi?endpoint=http://nas.home.arpa:9000&use_path_style=true&region=us-east-1'\n");
    process.exit(2);
  }
  const cwd = path.resolve(__dirname, "..");
  try {
    moveState({ backend, stack: stackArg ?? currentStack(cwd), preview: !noPreview, cwd, env: process.env, log: (l) => process.stderr.write(`move-state: ${l}\n`) });
  } catch (error) {
    process.stderr.write(`move-state: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
