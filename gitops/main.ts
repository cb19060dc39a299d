/**
 * The GitOps runner: `node gitops/main.js <config.json>` (or ts-node). It polls the branch every
 * `intervalSeconds`, takes webhooks, runs one commit at a time (gitops/runLoop.ts, gitops/run.ts)
 * and keeps its status in `<workDir>/status.json`. On SIGTERM (its own service being updated, or a
 * node draining) it takes no new trigger and exits once the current run has ended; the service
 * gives it the grace period for that.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runOnce } from "./run";
import { RunLoop } from "./runLoop";
import { createServer } from "./server";
import { RunnerStatus, loadStatus, saveStatus, withoutRunning } from "./status";
import { Takeover } from "./takeover";
import { RealTools, RunnerConfig } from "./tools";

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

/** The repository as shown in logs and the status: without any user or password in it. */
export function displayRepository(repository: string): string {
  try {
    const url = new URL(repository);
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return repository;
  }
}

export function readSecret(file: string | undefined): string | undefined {
  if (!file || !fs.existsSync(file)) return undefined;
  return fs.readFileSync(file, "utf8").trim() || undefined;
}

export async function main(configFile: string): Promise<void> {
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as RunnerConfig;
  const statusFile = path.join(config.workDir, "status.json");
  let status: RunnerStatus = loadStatus(statusFile);
  const update = (next: RunnerStatus) => {
    status = next;
    saveStatus(statusFile, status);
  };
  const tools = new RealTools(config, log, os.hostname());
  const takeover = new Takeover(config.workDir, os.hostname(), log);
  // Until the runner before this one (the same service, updated) has ended its run and exited,
  // this one answers webhooks and queues them, and touches neither git nor Pulumi nor the status.
  let holdsClaim = false;
  const claimed = takeover.claim().then(() => {
    holdsClaim = true;
    status = loadStatus(statusFile);
    const interrupted = status.running;
    if (interrupted) {
      tools.releaseOwnLockOnce = true;
      log(`the last run was cut short in its ${interrupted.phase} phase${interrupted.commit ? ` of ${interrupted.commit.slice(0, 12)}` : ""}: running again to complete it`);
      update(withoutRunning(status));
    }
    return interrupted;
  });

  const loop = new RunLoop({
    run: async (reasons) => {
      await claimed;
      const since = new Date().toISOString();
      update({ ...status, running: { phase: "fetch", since } });
      try {
        update(withoutRunning(await runOnce(tools, status, reasons, () => new Date(), (phase, commit) => update({ ...status, running: { phase, since, ...(commit ? { commit } : {}) } }))));
      } catch (error) {
        update(withoutRunning(status));
        throw error;
      }
    },
    onError: (error) => log(`run failed before it reached a commit: ${(error as Error).message}`),
  });

  const server = createServer({
    branch: config.branch,
    repository: displayRepository(config.repository),
    webhookSecret: () => readSecret(config.secrets.webhookSecretFile),
    statusToken: () => readSecret(config.secrets.statusTokenFile) ?? "",
    status: () => status,
    trigger: (reason) => loop.trigger(reason),
    log,
  });
  await new Promise<void>((resolve) => server.listen(config.listenPort, resolve));
  log(`following ${displayRepository(config.repository)} ${config.branch} for stack ${config.stack}: a poll every ${config.intervalSeconds} s, webhooks at :${config.listenPort}/hooks`);

  void claimed.then((interrupted) => loop.trigger(interrupted ? "restart" : "poll (start)"));
  const poll = setInterval(() => loop.trigger("poll"), config.intervalSeconds * 1000);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(poll);
    if (!holdsClaim) {
      log(`${signal} while waiting for the runner before this one: exiting without having run`);
      process.exit(0);
    }
    log(`${signal}: ${loop.busy ? "finishing the current run first" : "no run going"}; then exiting`);
    await loop.stop();
    takeover.release();
    server.close();
    log("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

/** The command line: `runner <config.json>` (or HOMELAB_GITOPS_CONFIG); the bundled runner starts here (gitops/bundle.ts). */
export function cli(): void {
  const configFile = process.argv[2] ?? process.env.HOMELAB_GITOPS_CONFIG;
  if (!configFile) {
    process.stderr.write("usage: gitops/main.ts <config.json> (or HOMELAB_GITOPS_CONFIG)\n");
    process.exit(2);
  }
  main(configFile).catch((error: Error) => {
    log(`the runner could not start: ${error.message}`);
    process.exit(1);
  });
}

if (require.main === module) cli();
