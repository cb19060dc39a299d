/**
 * What the platform renders for the backup agent (stacks/backup, services/backup/agent.js) from the
 * backup plan (compose/backup.ts) and homelab:platform.backup: the agent's JSON config, its Docker
 * API filter, and the secrets the repository needs. Pure; config/stacks.ts fills them in.
 */
import { parseBackupSchedule } from "../config/duration";
import { BackupConfig, DEFAULT_BACKUP_REPOSITORY } from "../config/schema";
import { isPlainObject } from "../config/reader";
import { BackupPlan } from "./backup";
import { JIT_API_HOST, JIT_PORT, JIT_STACK, JIT_SERVICE } from "./jit";
import { DOCKER_PATH, renderSocketFilter } from "./socketFilter";
import { StackSecret, StackSource } from "./types";

export const BACKUP_STACK = "backup";
export const BACKUP_SERVICE = "agent";
export const BACKUP_API_HOST = "backup";
export const BACKUP_PORT = 8080;
export const BACKUP_METRICS_PORT = 9102;
/** The lab builds this tag from Debian's restic (lab/images/restic); on the Pis it is the official image. */
export const RESTIC_IMAGE = "restic/restic:0.14.0";
/** Every job the agent creates is named so (services/backup/README.md), which the filter relies on. */
export const JOB_PREFIX = "backup-job-";
/** The bucket of the default repository, in the cluster's MinIO. */
export const DEFAULT_BUCKET = "homelab-backups";
const MINIO_SERVICE = "minio_minio";
const MINIO_JIT_NAME = "minio/minio";
/** MinIO is routed, so it is on the routing network; the jobs join it to reach MinIO's API. */
const ROUTING_NETWORK = "traefik-public";

/** Config secrets that hold the repository's credentials (`pulumi config set --secret homelab:<key>`). */
export const BACKUP_CONFIG_SECRETS = {
  sshKey: "backupSshKey",
  s3AccessKeyId: "backupS3AccessKeyId",
  s3SecretAccessKey: "backupS3SecretAccessKey",
  password: "backupPassword",
} as const;

/** What kind of repository: which secrets its jobs need. */
export type RepositoryKind = "minio" | "s3" | "sftp" | "rest";

export function repositoryKind(repository: string): RepositoryKind {
  if (repository === DEFAULT_BACKUP_REPOSITORY) return "minio";
  return repository.slice(0, repository.indexOf(":")) as RepositoryKind;
}

/** The restic URL the jobs use: the default is MinIO's API over the routing network, by its Swarm service name. */
export function resticRepository(repository: string): string {
  return repository === DEFAULT_BACKUP_REPOSITORY ? `s3:http://${MINIO_SERVICE}:9000/${DEFAULT_BUCKET}` : repository;
}

/** The config secrets a repository needs, which must be set before anything is deployed. */
export function requiredConfigSecrets(repository: string): string[] {
  switch (repositoryKind(repository)) {
    case "sftp":
      return [BACKUP_CONFIG_SECRETS.sshKey];
    case "s3":
      return [BACKUP_CONFIG_SECRETS.s3AccessKeyId, BACKUP_CONFIG_SECRETS.s3SecretAccessKey];
    default:
      return [];
  }
}

/** An AWS shared-credentials file (restic 0.14 reads AWS_SHARED_CREDENTIALS_FILE): how the S3 keys reach the jobs. */
export function renderS3Credentials(accessKeyId: string, secretAccessKey: string): string {
  return `[default]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`;
}

export interface BackupAgentSettings {
  readonly backup: BackupConfig;
  readonly domain: string;
  /** `<stack>/<service>` of the services that are just in time (those the JIT helper manages). */
  readonly jitServices: readonly string[];
}

/** Whether the jobs need the JIT helper (a JIT volume to hold asleep, or a JIT MinIO to keep awake). */
function usesJit(plan: BackupPlan, settings: BackupAgentSettings): boolean {
  return plan.volumes.some((v) => v.jit) || keepAwake(settings).length > 0;
}

function keepAwake(settings: BackupAgentSettings): string[] {
  return repositoryKind(settings.backup.repository) === "minio" && settings.jitServices.includes(MINIO_JIT_NAME) ? [MINIO_JIT_NAME] : [];
}

/** The agent's configuration file (services/backup/README.md); no secret in it, only the names of its secret files. */
export function renderBackupConfig(plan: BackupPlan, settings: BackupAgentSettings): string {
  const { backup, domain } = settings;
  const kind = repositoryKind(backup.repository);
  const schedule = parseBackupSchedule(backup.schedule);
  if (!schedule) throw new Error(`homelab:platform.backup.schedule ${JSON.stringify(backup.schedule)} was not checked`);
  const jit = new Set(settings.jitServices);
  const config = {
    listen: BACKUP_PORT,
    metricsListen: BACKUP_METRICS_PORT,
    dockerApi: "http://socket-proxy:2375",
    apiHost: `${BACKUP_API_HOST}.${domain}`,
    tokenFile: "/run/secrets/backup_token",
    service: `${BACKUP_STACK}_${BACKUP_SERVICE}`,
    // The container's clock is UTC, as the nodes' (homelab:updates.windowStart).
    schedule: schedule.kind === "daily" ? { daily: `${String(schedule.hour).padStart(2, "0")}:${String(schedule.minute).padStart(2, "0")}` } : { everySeconds: schedule.seconds },
    repository: resticRepository(backup.repository),
    resticImage: RESTIC_IMAGE,
    passwordSecret: "restic_password",
    ...(kind === "minio" || kind === "s3" ? { credentialsSecret: "restic_credentials" } : {}),
    ...(kind === "sftp" ? { sshKeySecret: "restic_ssh_key", knownHostsSecret: "restic_known_hosts" } : {}),
    ...(kind === "minio" ? { network: ROUTING_NETWORK } : {}),
    retention: backup.retention,
    ...(usesJit(plan, settings) ? { jit: { url: `http://${JIT_STACK}_${JIT_SERVICE}:${JIT_PORT}`, host: `${JIT_API_HOST}.${domain}`, tokenFile: "/run/secrets/jit_token" } } : {}),
    ...(keepAwake(settings).length > 0 ? { keepAwake: keepAwake(settings) } : {}),
    volumes: plan.volumes.map((v) => ({
      swarmVolume: v.swarmVolume,
      node: v.node,
      services: v.services,
      jit: v.jit,
      ...(v.jit ? { jitNames: v.services.map((s) => s.replace("_", "/")).filter((name) => jit.has(name)) } : {}),
    })),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** A Docker name as a literal inside an haproxy regular expression. */
const literal = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, (c) => `\\${c}`);

/**
 * The agent's Docker API filter (haproxy): it may read its own service, the services that mount a
 * planned volume and the task list, change those services' replicas, and create, read the logs of
 * and remove its jobs (named JOB_PREFIX…). A create must carry the job label and the restic image
 * in its body; everything else is refused with 403. Creating services is powerful, so the filter
 * sits on a network only the agent joins.
 */
export function renderBackupSocketFilter(plan: BackupPlan): string {
  // The agent reads its own service (for its secrets' IDs) but changes only the volumes' services.
  const quiesced = [...new Set(plan.volumes.flatMap((v) => v.services))].map(literal);
  const services = [literal(`${BACKUP_STACK}_${BACKUP_SERVICE}`), ...quiesced].join("|");
  const updatable = quiesced.length > 0 ? quiesced.join("|") : "homelab-no-backup-volume";
  const job = `${literal(JOB_PREFIX)}[A-Za-z0-9_.-]+`;
  return renderSocketFilter({
    header: "Rendered by the platform (compose/backupAgent.ts): the Docker API as the backup agent may use it.",
    timeoutSeconds: 60,
    // A create's body is read before the rules (a service spec is a few KiB).
    bufferBody: true,
    acls: [
      "read method GET HEAD",
      "post method POST",
      "delete method DELETE",
      `known_service path_reg ${DOCKER_PATH}/services/(${services})$`,
      `known_update path_reg ${DOCKER_PATH}/services/(${updatable})/update$`,
      `service_list path_reg ${DOCKER_PATH}/services$`,
      `task_list path_reg ${DOCKER_PATH}/tasks$`,
      `create path_reg ${DOCKER_PATH}/services/create$`,
      `job path_reg ${DOCKER_PATH}/services/${job}$`,
      `job_logs path_reg ${DOCKER_PATH}/services/${job}/logs$`,
      `job_body req.body -m sub "\\"homelab.backup.job\\""`,
      `restic_body req.body -m sub "\\"Image\\":\\"${RESTIC_IMAGE}\\""`,
    ],
    allow: ["read negotiation", "read known_service", "read service_list", "read task_list", "read job", "read job_logs", "post known_update", "post create job_body restic_body", "delete job"],
  });
}

/**
 * The backup stack with the secrets its repository needs added to the agent (mode 0400, owned by
 * root, while the agent runs as `node`: it can hand them to its jobs by reference but not read
 * them), and the JIT helper's token when it talks to the helper.
 */
export function withBackupSecrets(stack: StackSource, plan: BackupPlan, settings: BackupAgentSettings): StackSource {
  const kind = repositoryKind(settings.backup.repository);
  const added: StackSecret[] = [];
  if (kind === "minio" || kind === "s3") added.push({ key: "restic_credentials", source: { kind: "platform", name: "backup-credentials" } });
  if (kind === "sftp") {
    added.push({ key: "restic_ssh_key", source: { kind: "platform", name: "backup-ssh-key" } });
    added.push({ key: "restic_known_hosts", source: { kind: "platform", name: "backup-known-hosts" } });
  }
  const jitToken: StackSecret[] = usesJit(plan, settings) ? [{ key: "jit_token", source: { kind: "platform", name: "jit-token" } }] : [];
  if (added.length === 0 && jitToken.length === 0) return stack;
  const document = structuredClone(stack.document) as Record<string, any>;
  const agent = document.services?.[BACKUP_SERVICE];
  if (!isPlainObject(agent)) throw new Error(`${stack.file}: no service "${BACKUP_SERVICE}" to give the repository's secrets to`);
  const declare = (s: StackSecret) => [s.key, { "x-homelab": s.source.kind === "config" ? { config: s.source.key } : { platform: (s.source as { name: string }).name } }];
  document.secrets = { ...document.secrets, ...Object.fromEntries([...added, ...jitToken].map(declare)) };
  agent.secrets = [
    ...(Array.isArray(agent.secrets) ? agent.secrets : []),
    ...added.map((s) => ({ source: s.key, mode: 0o400 })),
    ...jitToken.map((s) => ({ source: s.key, mode: 0o444 })),
  ];
  return { ...stack, document, secrets: [...stack.secrets, ...added, ...jitToken] };
}
