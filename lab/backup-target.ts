/**
 * The lab's backup repository target: Debian's OpenSSH server (the lab node image's own sshd) in a
 * container of its own on the lab bridge, serving SFTP only (internal-sftp, chrooted), with the
 * repository in a host folder outside every node. It is real SFTP, so restic's sftp: backend runs
 * for real; it stands in for the owner's NAS or off-site host. The cluster's MinIO (the default
 * repository) cannot be tested here: the lab's MinIO is a STAND-IN (lab/images/standin).
 *
 * The folder and the SSH keys outlive `npm run lab:down` and a rebuild of every node, as a NAS
 * outlives the Pis: drill:rebuild restores from it onto fresh nodes.
 */
import * as fs from "fs";
import * as path from "path";
import { LAB, REPO_ROOT } from "./config";
import { run } from "./exec";
import { docker } from "./host";
import { ensureImage } from "./image";
import { Log, defaultLog } from "./progress";

const CONTAINER = "hl-lab-backup-target";
/** On the lab's subnet, below the nodes' addresses. */
export const BACKUP_TARGET_ADDRESS = "10.213.99.50";
const ROOT = path.join(REPO_ROOT, "out", "lab-backup-target");

export interface BackupTarget {
  /** The restic repository, as homelab:platform.backup.repository. */
  readonly repository: string;
  /** The server's known_hosts line, as homelab:platform.backup.knownHosts[0]. */
  readonly knownHosts: string;
  /** The client key the server accepts (homelab:backupSshKey). */
  readonly privateKey: string;
  /** The repository's folder on this host (what `restic -r` reads here, as the server's disk). */
  readonly repositoryDir: string;
}

function paths() {
  return { root: ROOT, repository: path.join(ROOT, "repository"), keys: path.join(ROOT, "keys"), privSep: path.join(ROOT, "run-sshd") };
}

/** Deletes the repository (a test's fresh start); the keys stay. */
export function wipeBackupRepository(): void {
  fs.rmSync(paths().repository, { recursive: true, force: true });
}

/**
 * The target's keys (made the first time, kept after) and how to reach it: what the stack config
 * needs, which can be set before the lab network exists.
 */
export async function backupTargetAccess(): Promise<BackupTarget> {
  const p = paths();
  // The chroot must be owned by root and writable by no one else (sshd refuses it otherwise); the repository below it.
  for (const dir of [p.root, p.keys, p.privSep]) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(p.repository, "restic"), { recursive: true });
  fs.chmodSync(p.repository, 0o755);
  const hostKey = path.join(p.keys, "ssh_host_ed25519_key");
  const clientKey = path.join(p.keys, "client_ed25519");
  if (!fs.existsSync(hostKey)) await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "lab-backup-target", "-f", hostKey]);
  if (!fs.existsSync(clientKey)) await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "homelab-backup-jobs", "-f", clientKey]);
  const publicHostKey = fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  return {
    // Chrooted at /srv: the repository is /restic inside it.
    repository: `sftp:root@${BACKUP_TARGET_ADDRESS}:/restic`,
    knownHosts: `${BACKUP_TARGET_ADDRESS} ${publicHostKey}`,
    privateKey: fs.readFileSync(clientKey, "utf8"),
    repositoryDir: path.join(p.repository, "restic"),
  };
}

/** Starts the target on the lab network (which the lab's up makes). Idempotent: a running target is kept. */
export async function startBackupTarget(log: Log = defaultLog): Promise<BackupTarget> {
  const access = await backupTargetAccess();
  const p = paths();
  fs.copyFileSync(path.join(p.keys, "client_ed25519.pub"), path.join(p.keys, "authorized_keys"));
  fs.writeFileSync(
    path.join(p.keys, "sshd_config"),
    [
      "Port 22",
      "HostKey /etc/lab-sftp/ssh_host_ed25519_key",
      "AuthorizedKeysFile /etc/lab-sftp/authorized_keys",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "Subsystem sftp internal-sftp",
      "ForceCommand internal-sftp",
      "ChrootDirectory /srv",
      "AllowTcpForwarding no",
      "X11Forwarding no",
      "PidFile none",
      "",
    ].join("\n"),
  );
  const running = await docker(["inspect", "-f", "{{.State.Running}}", CONTAINER], { allowFail: true });
  if (running.stdout.trim() !== "true") {
    await docker(["rm", "-f", CONTAINER], { allowFail: true });
    const image = await ensureImage(log);
    await docker([
      "run", "-d",
      "--name", CONTAINER,
      "--hostname", "lab-backup-target",
      "--network", LAB.network,
      "--ip", BACKUP_TARGET_ADDRESS,
      "--label", `${LAB.label}=backup-target`,
      "--entrypoint", "/usr/sbin/sshd",
      "-v", `${p.keys}:/etc/lab-sftp:ro`,
      "-v", `${p.repository}:/srv`,
      "-v", `${p.privSep}:/run/sshd`,
      image,
      "-D", "-e", "-f", "/etc/lab-sftp/sshd_config",
    ]);
    log(`backup target: OpenSSH's SFTP at ${BACKUP_TARGET_ADDRESS}:22, repository ${access.repositoryDir}`);
  }
  return access;
}

export async function stopBackupTarget(): Promise<void> {
  await docker(["rm", "-f", CONTAINER], { allowFail: true });
}
