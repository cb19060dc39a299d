/** The node image: built from Debian packages by lab/image/build.sh, tagged by its recipe's hash. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LAB, labPaths } from "./config";
import { run } from "./exec";
import { docker } from "./host";
import { Log, defaultLog, step } from "./progress";

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
