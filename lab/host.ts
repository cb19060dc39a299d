/** The host side of the lab: its dockerd, and the docker CLI every lab module talks to it with. */
import * as path from "path";
import { REPO_ROOT } from "./config";
import { run } from "./exec";
import { Log, defaultLog } from "./progress";

export const docker = (args: string[], opts: Parameters<typeof run>[2] = {}) => run("docker", args, opts);

/** Makes sure the host's dockerd answers; runs lab/host-setup.sh (packages, dockerd) if not. */
export async function ensureHost(log: Log = defaultLog): Promise<void> {
  const ok = await docker(["info", "--format", "{{.ServerVersion}}"], { allowFail: true, timeoutMs: 20000 });
  if (ok.code === 0) return;
  log("host dockerd not answering: running lab/host-setup.sh");
  await run("bash", [path.join(REPO_ROOT, "lab", "host-setup.sh")], { inheritStderr: true });
}
