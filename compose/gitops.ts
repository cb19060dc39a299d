/**
 * What the platform renders for the GitOps runner (stacks/gitops, gitops/main.ts) from
 * homelab:platform.gitops: the runner's JSON config, its image tag (built from the stack's
 * Dockerfile on the node labelled `gitops`), and the secrets the config asks for. Pure;
 * config/stacks.ts fills them in.
 */
import * as crypto from "crypto";
import { isPlainObject } from "../config/reader";
import { parseDurationSeconds } from "../config/duration";
import { GitOpsConfig } from "../config/schema";
import { StackSecret, StackSource } from "./types";
import type { RunnerConfig } from "../gitops/tools";

export const GITOPS_STACK = "gitops";
export const GITOPS_SERVICE = "runner";
/** The node label that pins the runner (and its volume) to one manager. */
export const GITOPS_LABEL = "gitops";
export const GITOPS_PORT = 8080;
/** The runner's volume, mounted here. */
export const GITOPS_WORK_DIR = "/var/lib/gitops";

/** Config secrets of the runner (`pulumi config set --secret homelab:<key>`). */
export const GITOPS_CONFIG_SECRETS = {
  passphrase: "gitopsPassphrase",
  token: "gitopsToken",
  webhookSecret: "gitopsWebhookSecret",
  backendAccessKeyId: "gitopsBackendAccessKeyId",
  backendSecretAccessKey: "gitopsBackendSecretAccessKey",
} as const;

/** The Swarm secrets' keys in stacks/gitops (mounted at /run/secrets/<key>). */
const SECRET_KEYS = { token: "gitops_token", webhookSecret: "gitops_webhook_secret", statusToken: "gitops_status_token", ntfyTopic: "ntfy_topic" } as const;

/**
 * The tag the platform builds: the compose file's `image:` (its repository and the Pulumi CLI's
 * version) with a hash of the Dockerfile, so an edit of either makes a new tag, and the service a
 * new task. The lab builds its own image under this same tag (lab/images/gitops-runner).
 */
export function runnerImageTag(composeImage: string, dockerfile: string): string {
  if (!/^[^:@]+:[^:@]+$/.test(composeImage)) throw new Error(`the runner's image ${JSON.stringify(composeImage)} is not name:version (stacks/gitops/compose.yml)`);
  const hash = crypto.createHash("sha256").update(dockerfile).digest("hex").slice(0, 12);
  return `${composeImage}-${hash}`;
}

/** The runner's config file (gitops/tools.ts RunnerConfig): paths to its secrets, never their values. */
export function renderRunnerConfig(gitops: GitOpsConfig, settings: { stack: string; ntfyServer: string; withToken: boolean }): string {
  const secret = (key: string) => `/run/secrets/${key}`;
  const config: RunnerConfig = {
    repository: gitops.repository,
    branch: gitops.branch,
    stack: settings.stack,
    intervalSeconds: parseDurationSeconds(gitops.interval) ?? 300,
    workDir: GITOPS_WORK_DIR,
    listenPort: GITOPS_PORT,
    backend: gitops.backend,
    ntfyServer: settings.ntfyServer,
    secrets: {
      webhookSecretFile: secret(SECRET_KEYS.webhookSecret),
      statusTokenFile: secret(SECRET_KEYS.statusToken),
      ntfyTopicFile: secret(SECRET_KEYS.ntfyTopic),
      ...(settings.withToken ? { gitTokenFile: secret(SECRET_KEYS.token) } : {}),
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * The gitops stack as deployed: the built image's tag, the repository token when the owner set
 * one, and the owner's webhook secret in place of the generated one when set.
 */
export function withRunnerSettings(stack: StackSource, settings: { image: string; dockerfile: string; node: string; withToken: boolean; ownWebhookSecret: boolean }): StackSource {
  const document = structuredClone(stack.document) as Record<string, any>;
  const runner = document.services?.[GITOPS_SERVICE];
  if (!isPlainObject(runner)) throw new Error(`${stack.file}: no service "${GITOPS_SERVICE}" to run the GitOps runner`);
  runner.image = settings.image;
  let secrets: StackSecret[] = [...stack.secrets];
  if (settings.ownWebhookSecret) {
    const source = { kind: "config", key: GITOPS_CONFIG_SECRETS.webhookSecret } as const;
    secrets = secrets.map((s) => (s.key === SECRET_KEYS.webhookSecret ? { key: s.key, source } : s));
    document.secrets = { ...document.secrets, [SECRET_KEYS.webhookSecret]: { "x-homelab": { config: source.key } } };
  }
  if (settings.withToken) {
    secrets.push({ key: SECRET_KEYS.token, source: { kind: "config", key: GITOPS_CONFIG_SECRETS.token } });
    document.secrets = { ...document.secrets, [SECRET_KEYS.token]: { "x-homelab": { config: GITOPS_CONFIG_SECRETS.token } } };
    runner.secrets = [...(Array.isArray(runner.secrets) ? runner.secrets : []), SECRET_KEYS.token];
  }
  return { ...stack, document, secrets, builds: [{ service: GITOPS_SERVICE, image: settings.image, dockerfile: settings.dockerfile, node: settings.node }] };
}
