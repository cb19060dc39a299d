/** The machine-wide lab lock: one lab-changing operation at a time. */
import * as fs from "fs";
import * as path from "path";
import { sleep } from "./exec";

/**
 * One lab-changing operation at a time on this machine (tests, CLI and other sessions may overlap):
 * a lock directory holding the owner's pid; a dead owner's lock is taken over.
 */
export async function withLabLock<T>(fn: () => Promise<T>): Promise<T> {
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
