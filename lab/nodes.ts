/** Node containers: create, wipe, keep or restart them, inspect them, and run commands inside. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LAB, LabNodeSpec, LabSpec, containerName, labPaths, loadLabSpec } from "./config";
import { RunResult } from "./exec";
import { docker } from "./host";

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

export function provisionedFile(name: string): string {
  return path.join(labPaths().provisioned, `${name}.ign`);
}

function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex").slice(0, 16);
}

interface ContainerState {
  running: boolean;
  labels: Record<string, string>;
}

export async function inspectContainer(name: string): Promise<ContainerState | undefined> {
  const r = await docker(["container", "inspect", "--format", "{{json .State.Running}} {{json .Config.Labels}}", containerName(name)], {
    allowFail: true,
  });
  if (r.code !== 0) return undefined;
  const [running, ...labels] = r.stdout.trim().split(" ");
  return { running: running === "true", labels: JSON.parse(labels.join(" ")) ?? {} };
}

export async function wipeNode(name: string): Promise<void> {
  await docker(["rm", "-f", "-v", containerName(name)], { allowFail: true });
  fs.rmSync(nodeDataDir(name), { recursive: true, force: true });
}

export async function createNode(node: LabNodeSpec, image: string): Promise<void> {
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
export async function ensureNode(node: LabNodeSpec, image: string): Promise<"kept" | "started" | "created"> {
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

/** The nodes and the backup target (lab/backup-target.ts; its repository folder stays). */
export async function removeContainers(): Promise<void> {
  const ids = [await docker(["ps", "-aq", "--filter", `label=${LAB.label}=node`]), await docker(["ps", "-aq", "--filter", `label=${LAB.label}=backup-target`])];
  const list = ids.flatMap((r) => r.stdout.split("\n")).filter(Boolean);
  if (list.length) await docker(["rm", "-f", "-v", ...list]);
}

export function nodeSpec(name: string): { spec: LabSpec; node: LabNodeSpec } {
  const spec = loadLabSpec();
  const node = spec.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no lab node ${name} (have: ${spec.nodes.map((n) => n.name).join(", ")})`);
  return { spec, node };
}

/** Runs argv inside a node's container as root (docker exec: for checks the node cannot fake). */
export async function nodeExec(name: string, argv: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return docker(["exec", ...(opts.input !== undefined ? ["-i"] : []), containerName(name), ...argv], {
    allowFail: true,
    input: opts.input,
  });
}
