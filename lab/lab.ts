/**
 * The lab: a simulated Flatcar Swarm cluster on this machine, one container per node (the kind/k3d
 * way). Each node boots a Debian image made to look like Flatcar where we rely on it, applies its
 * Ignition file with the real Ignition engine at start, then runs systemd as PID 1.
 *
 * Exported for jest tests and scripts: labUp, labDown, rebuildNode, stopNode, startNode,
 * readInventory, sshExec, nodeExec.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LAB, LabNodeSpec, LabSpec, REPO_ROOT, containerName, labPaths, loadLabSpec } from "./config";
import { CommandError, RunResult, run, sleep } from "./exec";

export interface InventoryNode {
  name: string;
  role: "manager" | "worker";
  address: string;
  user: "core";
  port: number;
  privateKeyPath: string;
  knownHostsPath: string;
}

export interface Inventory {
  nodes: InventoryNode[];
  knownHostsPath: string;
}

export interface LabUpOptions {
  /** Use `<dir>/<node>.ign` instead of rendering (default: env HOMELAB_LAB_IGNITION_DIR). */
  ignitionDir?: string;
  /** Progress output (default: stderr). */
  log?: (line: string) => void;
}

type Log = (line: string) => void;

const defaultLog: Log = (line) => process.stderr.write(`[lab] ${line}\n`);

/** Runs a named step and reports how long it took. */
async function step<T>(log: Log, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  log(`${name} ...`);
  const result = await fn();
  log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

/**
 * One lab-changing operation at a time on this machine (tests, CLI and other sessions may overlap):
 * a lock directory holding the owner's pid; a dead owner's lock is taken over.
 */
async function withLabLock<T>(fn: () => Promise<T>): Promise<T> {
  const dir = process.env.HOMELAB_LAB_LOCK ?? "/run/homelab-lab.lock";
  const deadline = Date.now() + 15 * 60000;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(dir, "pid"), "utf8"));
      } catch {
        /* being written or removed */
      }
      const alive = (() => {
        if (!Number.isInteger(owner) || owner <= 0) return true;
        try {
          process.kill(owner, 0);
          return true;
        } catch {
          return false;
        }
      })();
      if (!alive) fs.rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`lab lock ${dir} held by pid ${owner} for 15 min`);
      else await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const docker = (args: string[], opts: Parameters<typeof run>[2] = {}) => run("docker", args, opts);
const iptables = (args: string[]) => run("iptables", ["-w", ...args], { allowFail: true });

// ---------------------------------------------------------------------------------------------
// Host

/** Makes sure the host's dockerd answers; runs lab/host-setup.sh (packages, dockerd) if not. */
export async function ensureHost(log: Log = defaultLog): Promise<void> {
  const ok = await docker(["info", "--format", "{{.ServerVersion}}"], { allowFail: true, timeoutMs: 20000 });
  if (ok.code === 0) return;
  log("host dockerd not answering: running lab/host-setup.sh");
  await run("bash", [path.join(REPO_ROOT, "lab", "host-setup.sh")], { inheritStderr: true });
}

// ---------------------------------------------------------------------------------------------
// Image

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

/** The node image's tag: a hash of its recipe (lab/image/**), so it is rebuilt only on change. */
export function imageTag(): string {
  const dir = labPaths().imageDir;
  const h = crypto.createHash("sha256");
  for (const f of listFiles(dir)) {
    const st = fs.statSync(f);
    h.update(path.relative(dir, f)).update("\0").update(String(st.mode & 0o777)).update("\0");
    h.update(fs.readFileSync(f)).update("\0");
  }
  return `${LAB.imageRepo}:${h.digest("hex").slice(0, 12)}`;
}

/** Builds the node image from Debian packages unless the current recipe's image exists. */
export async function ensureImage(log: Log = defaultLog): Promise<string> {
  const tag = imageTag();
  const have = await docker(["image", "inspect", "--format", "{{.Id}}", tag], { allowFail: true });
  if (have.code === 0) {
    log(`image ${tag} cached`);
    return tag;
  }
  await step(log, `building image ${tag} (debootstrap, ~1-2 min the first time)`, () =>
    run("bash", [path.join(labPaths().imageDir, "build.sh"), tag, tag.split(":")[1]], {
      inheritStderr: true,
      env: { ...process.env, HOMELAB_LAB_CACHE: labPaths().cache },
    }),
  );
  // Older recipes' images are dead weight: drop them (only ours, by label).
  const old = await docker(["images", "--filter", `label=${LAB.label}=node`, "--format", "{{.Repository}}:{{.Tag}}"]);
  for (const t of old.stdout.split("\n").filter((l) => l && l !== tag)) {
    await docker(["rmi", t], { allowFail: true });
  }
  return tag;
}

// ---------------------------------------------------------------------------------------------
// SSH key, Ignition

async function ensureKey(): Promise<void> {
  const p = labPaths();
  fs.mkdirSync(p.sshDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(p.privateKey) || !fs.existsSync(p.publicKey)) {
    fs.rmSync(p.privateKey, { force: true });
    fs.rmSync(p.publicKey, { force: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f", p.privateKey]);
  }
  fs.chmodSync(p.privateKey, 0o600);
}

interface IgnitionConfig {
  ignition?: { version?: string };
  passwd?: { users?: Array<{ name: string; sshAuthorizedKeys?: string[]; [k: string]: unknown }> };
  [k: string]: unknown;
}

/** Returns a copy of `config` whose user `core` also trusts `publicKey` (added once). */
export function withLabKey(config: IgnitionConfig, publicKey: string): IgnitionConfig {
  const copy = JSON.parse(JSON.stringify(config)) as IgnitionConfig;
  copy.passwd ??= {};
  copy.passwd.users ??= [];
  let core = copy.passwd.users.find((u) => u.name === "core");
  if (!core) {
    core = { name: "core" };
    copy.passwd.users.push(core);
  }
  const keys = core.sshAuthorizedKeys ?? [];
  const keyBody = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
  if (!keys.some((k) => keyBody(k) === keyBody(publicKey))) keys.push(publicKey.trim());
  core.sshAuthorizedKeys = keys;
  return copy;
}

/**
 * Produces the Ignition file each node is provisioned with, in out/lab/provisioned/<node>.ign:
 * rendered by bin/render.ts from the lab stack config, or taken from `ignitionDir` (a COPY, with
 * the lab key merged into core's sshAuthorizedKeys so the inventory works).
 */
async function prepareIgnition(spec: LabSpec, ignitionDir: string | undefined, log: Log): Promise<void> {
  const p = labPaths();
  let sourceDir: string;
  if (ignitionDir) {
    sourceDir = path.resolve(ignitionDir);
    log(`using pre-rendered Ignition from ${sourceDir} (lab key merged into a copy)`);
  } else {
    const renderer = path.join(REPO_ROOT, "bin", "render.ts");
    if (!fs.existsSync(renderer)) {
      throw new Error(
        "bin/render.ts is not there yet: set HOMELAB_LAB_IGNITION_DIR to a directory of <node>.ign files",
      );
    }
    await run(
      path.join(REPO_ROOT, "node_modules", ".bin", "ts-node"),
      ["--transpile-only", renderer, "--config", spec.configPath, "--out", p.out, "--authorized-key-file", p.publicKey],
      { cwd: REPO_ROOT },
    );
    sourceDir = path.join(p.out, "ignition");
  }
  const publicKey = fs.readFileSync(p.publicKey, "utf8");
  fs.mkdirSync(p.provisioned, { recursive: true });
  for (const node of spec.nodes) {
    const src = path.join(sourceDir, `${node.name}.ign`);
    if (!fs.existsSync(src)) throw new Error(`no Ignition file for ${node.name}: ${src}`);
    const config = JSON.parse(fs.readFileSync(src, "utf8")) as IgnitionConfig;
    const merged = withLabKey(config, publicKey);
    fs.writeFileSync(path.join(p.provisioned, `${node.name}.ign`), JSON.stringify(merged, null, 2) + "\n");
  }
}

// ---------------------------------------------------------------------------------------------
// Network and firewall

function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad IPv4 ${ip}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function cidrOverlaps(a: string, b: string): boolean {
  const [ia, la] = a.split("/");
  const [ib, lb] = b.split("/");
  const len = Math.min(Number(la), Number(lb));
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((ipToInt(ia) & mask) >>> 0) === ((ipToInt(ib) & mask) >>> 0);
}

async function ensureNetwork(spec: LabSpec): Promise<void> {
  const insp = await docker(["network", "inspect", LAB.network, "--format", "{{json .}}"], { allowFail: true });
  if (insp.code === 0) {
    const net = JSON.parse(insp.stdout) as {
      Internal: boolean;
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
      Options: Record<string, string>;
    };
    const cfg = net.IPAM.Config[0];
    if (
      net.Internal &&
      cfg?.Subnet === spec.subnet &&
      cfg?.Gateway === spec.gateway &&
      net.Options["com.docker.network.bridge.name"] === LAB.bridge
    ) {
      return;
    }
    await removeContainers();
    await docker(["network", "rm", LAB.network]);
  }
  // A leftover interface in the same subnet silently breaks routing to the nodes: refuse.
  const addrs = await run("ip", ["-o", "-4", "addr", "show"]);
  for (const line of addrs.stdout.split("\n")) {
    const m = line.match(/^\d+:\s+(\S+)\s+inet\s+(\S+)/);
    if (m && m[1] !== LAB.bridge && cidrOverlaps(m[2], spec.subnet)) {
      throw new Error(`interface ${m[1]} (${m[2]}) overlaps the lab subnet ${spec.subnet}: remove it first`);
    }
  }
  await docker([
    "network", "create", "--driver", "bridge", "--internal",
    "--subnet", spec.subnet, "--gateway", spec.gateway,
    "-o", `com.docker.network.bridge.name=${LAB.bridge}`,
    "--label", `${LAB.label}=network`,
    LAB.network,
  ]);
}

/**
 * Nodes reach each other and nothing else: what they send to the host or beyond is REJECTed
 * (not dropped), so a stray connection fails at once instead of timing out. Replies to the host's
 * own connections (SSH from the tests) pass.
 */
async function ensureFirewall(): Promise<void> {
  const br = LAB.bridge;
  const chains: Array<[string, string, string[][]]> = [
    [LAB.chainIn, "INPUT", [
      ["-i", br, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
      ["-i", br, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
      ["-i", br, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
    ]],
    [LAB.chainFwd, "FORWARD", [
      ["-i", br, "-o", br, "-j", "RETURN"],
      ["-i", br, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
      ["-i", br, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
      ["-o", br, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
    ]],
  ];
  for (const [chain, parent, rules] of chains) {
    await iptables(["-N", chain]);
    await iptables(["-F", chain]);
    for (const r of rules) {
      const res = await iptables(["-A", chain, ...r]);
      if (res.code !== 0) throw new Error(`iptables -A ${chain} ${r.join(" ")}: ${res.stderr}`);
    }
    if ((await iptables(["-C", parent, "-j", chain])).code !== 0) {
      const res = await iptables(["-I", parent, "1", "-j", chain]);
      if (res.code !== 0) throw new Error(`iptables -I ${parent} -j ${chain}: ${res.stderr}`);
    }
  }
}

async function removeFirewall(): Promise<void> {
  for (const [chain, parent] of [[LAB.chainIn, "INPUT"], [LAB.chainFwd, "FORWARD"]]) {
    for (let i = 0; i < 10 && (await iptables(["-C", parent, "-j", chain])).code === 0; i++) {
      await iptables(["-D", parent, "-j", chain]);
    }
    await iptables(["-F", chain]);
    await iptables(["-X", chain]);
  }
}

// ---------------------------------------------------------------------------------------------
// Nodes

const CAP_NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
  // 38+ (PERFMON, BPF, CHECKPOINT_RESTORE) are unknown to docker 20.10 and rejected.
];

/**
 * Every capability of this machine's bounding set but SYS_RESOURCE (`--privileged` fails here:
 * SYS_RESOURCE is not in the bounding set).
 */
function nodeCapabilities(): string[] {
  const m = fs.readFileSync("/proc/self/status", "utf8").match(/^CapBnd:\s*([0-9a-f]+)/m);
  const bnd = m ? BigInt(`0x${m[1]}`) : (1n << BigInt(CAP_NAMES.length)) - 1n;
  return CAP_NAMES.filter((name, bit) => name !== "SYS_RESOURCE" && (bnd & (1n << BigInt(bit))) !== 0n);
}

const nodeDataDir = (name: string) => path.join(labPaths().state, "nodes", name);

function provisionedFile(name: string): string {
  return path.join(labPaths().provisioned, `${name}.ign`);
}

function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex").slice(0, 16);
}

interface ContainerState {
  running: boolean;
  labels: Record<string, string>;
}

async function inspectContainer(name: string): Promise<ContainerState | undefined> {
  const r = await docker(["container", "inspect", "--format", "{{json .State.Running}} {{json .Config.Labels}}", containerName(name)], {
    allowFail: true,
  });
  if (r.code !== 0) return undefined;
  const [running, ...labels] = r.stdout.trim().split(" ");
  return { running: running === "true", labels: JSON.parse(labels.join(" ")) ?? {} };
}

async function wipeNode(name: string): Promise<void> {
  await docker(["rm", "-f", "-v", containerName(name)], { allowFail: true });
  fs.rmSync(nodeDataDir(name), { recursive: true, force: true });
}

async function createNode(node: LabNodeSpec, image: string): Promise<void> {
  const ign = provisionedFile(node.name);
  const data = nodeDataDir(node.name);
  fs.mkdirSync(path.join(data, "docker"), { recursive: true });
  // The node reads its own copy (Flatcar reads the config from its OEM partition).
  fs.copyFileSync(ign, path.join(data, "config.ign"));
  const caps = nodeCapabilities().flatMap((c) => ["--cap-add", c]);
  await docker([
    "run", "-d",
    "--name", containerName(node.name),
    "--hostname", node.name,
    "--network", LAB.network,
    "--ip", node.address,
    ...caps,
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "-v", `${path.join(data, "docker")}:/var/lib/docker`,
    "-v", `${path.join(data, "config.ign")}:/oem/config.ign:ro`,
    "--stop-signal", "SIGRTMIN+3",
    "--stop-timeout", "20",
    "--label", `${LAB.label}=node`,
    "--label", `${LAB.label}.node=${node.name}`,
    "--label", `${LAB.label}.role=${node.role}`,
    "--label", `${LAB.label}.image=${image}`,
    "--label", `${LAB.label}.config=${sha256File(ign)}`,
    image,
  ]);
}

/** Starts the node from scratch, or keeps it when it already runs the same image and config. */
async function ensureNode(node: LabNodeSpec, image: string): Promise<"kept" | "started" | "created"> {
  const st = await inspectContainer(node.name);
  const want = sha256File(provisionedFile(node.name));
  if (st && st.labels[`${LAB.label}.image`] === image && st.labels[`${LAB.label}.config`] === want) {
    if (st.running) return "kept";
    await docker(["start", containerName(node.name)]);
    return "started";
  }
  await wipeNode(node.name);
  await createNode(node, image);
  return "created";
}

async function removeContainers(): Promise<void> {
  const ids = await docker(["ps", "-aq", "--filter", `label=${LAB.label}=node`]);
  const list = ids.stdout.split("\n").filter(Boolean);
  if (list.length) await docker(["rm", "-f", "-v", ...list]);
}

// ---------------------------------------------------------------------------------------------
// SSH readiness, known_hosts, inventory

function sshArgs(node: { address: string; port?: number; sshPort?: number }, extra: string[] = []): string[] {
  const p = labPaths();
  // ssh takes the first value given for an option: callers' options go first so they win.
  return [
    ...extra,
    "-F", "/dev/null",
    "-i", p.privateKey,
    "-p", String(node.port ?? node.sshPort ?? 22),
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${p.knownHosts}`,
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
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
async function waitForNode(node: LabNodeSpec, budgetMs: number): Promise<void> {
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

function sshBudgetMs(spec: LabSpec): number {
  return spec.sshWaitMs > 0 ? spec.sshWaitMs : 180000;
}

function inventoryOf(spec: LabSpec): Inventory {
  const p = labPaths();
  return {
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      address: n.address,
      user: "core" as const,
      port: n.sshPort,
      privateKeyPath: p.privateKey,
      knownHostsPath: p.knownHosts,
    })),
    knownHostsPath: p.knownHosts,
  };
}

function writeInventory(spec: LabSpec): Inventory {
  const inv = inventoryOf(spec);
  fs.writeFileSync(labPaths().inventory, JSON.stringify(inv, null, 2) + "\n");
  return inv;
}

/** The inventory lab:up wrote (out/lab/inventory.json). */
export function readInventory(): Inventory {
  const file = labPaths().inventory;
  if (!fs.existsSync(file)) throw new Error(`${file} missing: run npm run lab:up first`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Inventory;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts every lab node (idempotent: running nodes with the same image and Ignition are kept),
 * waits until each answers SSH as core with the lab key, and writes out/lab/inventory.json.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<Inventory> {
  return withLabLock(() => labUpLocked(opts));
}

async function labUpLocked(opts: LabUpOptions): Promise<Inventory> {
  const log = opts.log ?? defaultLog;
  const t0 = Date.now();
  const spec = loadLabSpec();
  const ignitionDir = opts.ignitionDir ?? (process.env.HOMELAB_LAB_IGNITION_DIR || undefined);
  await step(log, "host docker", () => ensureHost(log));
  const image = await step(log, "node image", () => ensureImage(log));
  await step(log, "lab SSH key", ensureKey);
  await step(log, ignitionDir ? "Ignition (pre-rendered)" : "Ignition (render)", () => prepareIgnition(spec, ignitionDir, log));
  await step(log, "network and firewall", async () => {
    await ensureNetwork(spec);
    await ensureFirewall();
  });
  await step(log, `nodes (${spec.nodes.map((n) => n.name).join(", ")})`, async () => {
    const results = await Promise.all(spec.nodes.map((n) => ensureNode(n, image)));
    spec.nodes.forEach((n, i) => log(`  ${n.name}: ${results[i]}`));
  });
  await step(log, "SSH as core on every node", () => Promise.all(spec.nodes.map((n) => waitForNode(n, sshBudgetMs(spec)))));
  const inv = writeInventory(spec);
  log(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s; inventory: ${labPaths().inventory}`);
  return inv;
}

/**
 * Removes everything labUp made: containers, network (and its bridge), firewall chains, node data,
 * out/lab. Idempotent. The node image and the .deb cache stay unless `purge`.
 */
export async function labDown(opts: { purge?: boolean; log?: Log } = {}): Promise<void> {
  return withLabLock(() => labDownLocked(opts));
}

async function labDownLocked(opts: { purge?: boolean; log?: Log }): Promise<void> {
  const log = opts.log ?? defaultLog;
  const p = labPaths();
  const t0 = Date.now();
  const dockerUp = (await docker(["info", "--format", "{{.ServerVersion}}"], { allowFail: true, timeoutMs: 20000 })).code === 0;
  if (dockerUp) {
    await step(log, "containers", removeContainers);
    await step(log, "network", async () => {
      await docker(["network", "rm", LAB.network], { allowFail: true });
    });
  } else {
    log("host dockerd not running: no containers or docker networks to remove");
  }
  await step(log, "firewall and bridge", async () => {
    await removeFirewall();
    if ((await run("ip", ["link", "show", LAB.bridge], { allowFail: true })).code === 0) {
      await run("ip", ["link", "del", LAB.bridge], { allowFail: true });
    }
  });
  await step(log, "node data and out/lab", async () => {
    fs.rmSync(p.state, { recursive: true, force: true });
    fs.rmSync(p.out, { recursive: true, force: true });
  });
  if (opts.purge) {
    await step(log, "purge image and cache", async () => {
      if (dockerUp) {
        const imgs = await docker(["images", "-q", "--filter", `label=${LAB.label}=node`]);
        const ids = [...new Set(imgs.stdout.split("\n").filter(Boolean))];
        if (ids.length) await docker(["rmi", "-f", ...ids], { allowFail: true });
      }
      fs.rmSync(p.cache, { recursive: true, force: true });
    });
  }
  log(`lab down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function nodeSpec(name: string): { spec: LabSpec; node: LabNodeSpec } {
  const spec = loadLabSpec();
  const node = spec.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no lab node ${name} (have: ${spec.nodes.map((n) => n.name).join(", ")})`);
  return { spec, node };
}

/**
 * Rebuilds one node as if re-flashed: removes its container, wipes its data (root and
 * /var/lib/docker), provisions it again from its Ignition file, waits for SSH, refreshes known_hosts.
 * The node gets a new machine-id and new SSH host keys.
 */
export async function rebuildNode(name: string, opts: { log?: Log } = {}): Promise<InventoryNode> {
  const log = opts.log ?? (() => undefined);
  const { spec, node } = nodeSpec(name);
  if (!fs.existsSync(provisionedFile(name))) throw new Error(`${provisionedFile(name)} missing: run lab:up first`);
  await withLabLock(async () => {
    const image = await ensureImage(log);
    await step(log, `rebuild ${name}`, async () => {
      await wipeNode(name);
      await createNode(node, image);
      await waitForNode(node, sshBudgetMs(spec));
    });
  });
  return inventoryOf(spec).nodes.find((n) => n.name === name)!;
}

/** Stops a node (clean systemd shutdown) without wiping anything; its address stops answering. */
export async function stopNode(name: string): Promise<void> {
  nodeSpec(name);
  await docker(["stop", containerName(name)]);
}

/** Starts a stopped node again (Ignition does not run again) and waits for SSH. */
export async function startNode(name: string): Promise<void> {
  const { spec, node } = nodeSpec(name);
  const st = await inspectContainer(name);
  if (!st) throw new Error(`node ${name} has no container: run lab:up or rebuildNode`);
  if (!st.running) await docker(["start", containerName(name)]);
  await waitForNode(node, sshBudgetMs(spec));
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

/** Runs argv inside a node's container as root (docker exec: for checks the node cannot fake). */
export async function nodeExec(name: string, argv: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return docker(["exec", ...(opts.input !== undefined ? ["-i"] : []), containerName(name), ...argv], {
    allowFail: true,
    input: opts.input,
  });
}

export { CommandError, loadLabSpec, labPaths, containerName };
