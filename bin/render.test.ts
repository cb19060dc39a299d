import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { REPO_ROOT, ignitionValidate, newEd25519PublicKey, sshKeygenPair } from "../tests/fixtures";

/** Runs the real CLI as `npm run render` does (ts-node, transpile only), from the repo root. */
function render(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "bin/render.ts", ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 30000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-render-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Nothing was written: the out dir does not exist or is empty. */
function expectNothingWritten(out: string): void {
  expect(fs.existsSync(out) ? fs.readdirSync(out, { recursive: true }) : []).toEqual([]);
}

test("--stack homelab with a key file writes 4 .ign files that pass ignition-validate", () => {
  const key = newEd25519PublicKey("owner@laptop");
  fs.writeFileSync(path.join(tmp, "k.pub"), `${key}\n`);
  const out = path.join(tmp, "out");
  const run = render("--stack", "homelab", "--out", out, "--authorized-key-file", path.join(tmp, "k.pub"));
  expect(run).toMatchObject({ status: 0, stderr: "" });
  const names = ["swarm-manager-1", "swarm-manager-2", "swarm-manager-3", "swarm-worker-1"];
  expect(fs.readdirSync(path.join(out, "ignition")).sort()).toEqual(names.map((n) => `${n}.ign`));
  // The default config deploys the platform's own stacks, monitoring, the seed's apps, the JIT helper for four of them and the backup agent.
  expect(run.stdout.trim().split("\n")).toEqual([...names.map((n) => path.join(out, "ignition", `${n}.ign`)), ...["traefik", "dns", "monitoring", "vaultwarden", "forgejo", "mealie", "minio", "homeassistant", "jit", "backup"].map((s) => path.join(out, "stacks", `${s}.yml`))]);
  for (const name of names) {
    const json = fs.readFileSync(path.join(out, "ignition", `${name}.ign`), "utf8");
    expect(ignitionValidate(json)).toEqual({ status: 0, output: "" });
    const doc = JSON.parse(json) as { passwd: { users: { sshAuthorizedKeys: string[] }[] } };
    expect(doc.passwd.users[0].sshAuthorizedKeys).toEqual([key]);
  }
});

test("--config with an invalid file exits non-zero, names the key and writes nothing", () => {
  const config = path.join(tmp, "Pulumi.bad.yaml");
  const stack = fs.readFileSync(path.join(REPO_ROOT, "Pulumi.homelab.yaml"), "utf8");
  expect(stack).toContain("address: 192.168.99.102");
  fs.writeFileSync(config, stack.replace("address: 192.168.99.102", "address: 192.168.99.300"));
  fs.writeFileSync(path.join(tmp, "k.pub"), newEd25519PublicKey());
  const out = path.join(tmp, "out");
  const run = render("--config", config, "--out", out, "--authorized-key-file", path.join(tmp, "k.pub"));
  expect(run.status).not.toBe(0);
  expect(run.stderr).toContain("homelab:nodes[1].address");
  expect(run.stderr).toContain("Fix:");
  expect(run.stdout).toBe("");
  expectNothingWritten(out);
});

test("no SSH key anywhere exits non-zero naming homelab:ssh.authorizedKeys, writes nothing", () => {
  const out = path.join(tmp, "out");
  const run = render("--stack", "lab", "--out", out);
  expect(run.status).not.toBe(0);
  expect(run.stderr).toContain("homelab:ssh.authorizedKeys");
  expect(run.stderr).toContain("--authorized-key-file");
  expectNothingWritten(out);
});

test("a private key passed as --authorized-key-file is refused without echoing it", () => {
  const { privateKey } = sshKeygenPair();
  fs.writeFileSync(path.join(tmp, "id_ed25519"), privateKey, { mode: 0o600 });
  const out = path.join(tmp, "out");
  const run = render("--stack", "homelab", "--out", out, "--authorized-key-file", path.join(tmp, "id_ed25519"));
  expect(run.status).not.toBe(0);
  expect(run.stderr).toMatch(/PRIVATE key/);
  for (const line of privateKey.split("\n").filter((l) => l !== "" && !l.startsWith("-----"))) expect(run.stderr).not.toContain(line);
  expectNothingWritten(out);
});

test.each([
  ["an unknown flag", ["--stack", "homelab", "--out", "x", "--verbose", "yes"], /unknown option --verbose/],
  ["a flag without its value", ["--stack"], /--stack needs a value/],
  ["no --out", ["--stack", "homelab"], /say where to write: --out DIR/],
  ["no config", ["--out", "x"], /--stack NAME or --config FILE/],
])("%s is a usage error", (_what, args, message) => {
  const run = render(...args);
  expect(run.status).not.toBe(0);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).toMatch(/usage: npm run render -- \(--stack NAME \| --config FILE\) --out DIR/);
  expect(fs.existsSync(path.join(REPO_ROOT, "x"))).toBe(false);
});

test("--help prints the usage and succeeds", () => {
  const run = render("--help");
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^usage: npm run render/);
});

/** Renders the lab config with homelab:platform.stacks set, into tmp/out. */
function renderLabWithStacks(...stacks: string[]) {
  const doc = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.lab.yaml"), "utf8"));
  doc.config["homelab:platform"] = { ...doc.config["homelab:platform"], stacks };
  fs.writeFileSync(path.join(tmp, "Pulumi.x.yaml"), YAML.stringify(doc));
  fs.writeFileSync(path.join(tmp, "k.pub"), `${newEd25519PublicKey("owner@laptop")}\n`);
  const out = path.join(tmp, "out");
  return { out, run: render("--config", path.join(tmp, "Pulumi.x.yaml"), "--out", out, "--authorized-key-file", path.join(tmp, "k.pub")) };
}

test("a config listing stacks also writes DIR/stacks/<stack>.yml: content-named configs, no secret source, no x-homelab", () => {
  const { out, run } = renderLabWithStacks("whoami");
  expect(run).toMatchObject({ status: 0, stderr: "" });
  expect(run.stdout.trim().split("\n")).toContain(path.join(out, "stacks", "whoami.yml"));
  const text = fs.readFileSync(path.join(out, "stacks", "whoami.yml"), "utf8");
  const page = fs.readFileSync(path.join(REPO_ROOT, "stacks", "whoami", "index.txt"), "utf8");
  const fingerprint = require("crypto").createHash("sha256").update(page).digest("hex").slice(0, 8);
  expect(text).toContain(`name: whoami_index_txt-${fingerprint}`);
  expect(text).toContain("name: whoami_whoami_secret-VALUEHMAC");
  expect(text).not.toContain("x-homelab");
});

test("a stack whose folder does not exist exits non-zero naming the key, and writes nothing", () => {
  const { out, run } = renderLabWithStacks("nope");
  expect(run.status).not.toBe(0);
  expect(run.stderr).toContain("homelab:platform.stacks[0]: there is no folder stacks/nope");
  expectNothingWritten(out);
});
