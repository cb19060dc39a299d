/**
 * The lab's command line:
 *   ts-node lab/cli.ts up                      start all nodes (npm run lab:up)
 *   ts-node lab/cli.ts down [--purge]          remove everything (npm run lab:down)
 *   ts-node lab/cli.ts rebuild|stop|start NODE one node
 *   ts-node lab/cli.ts ssh NODE [COMMAND...]   run a command as core over SSH
 *   ts-node lab/cli.ts fixture-ignition DIR    write minimal Ignition files (for tests without the renderer)
 */
import * as fs from "fs";
import * as path from "path";
import { labPaths, loadLabSpec } from "./config";
import { minimalIgnition } from "./fixture";
import { labDown, labUp, rebuildNode, sshExec, startNode, stopNode } from "./lab";

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const log = (l: string) => process.stderr.write(`[lab] ${l}\n`);
  switch (cmd) {
    case "up":
      await labUp({ log });
      return 0;
    case "down":
      await labDown({ purge: rest.includes("--purge"), log });
      return 0;
    case "rebuild":
    case "stop":
    case "start": {
      const name = rest[0];
      if (!name) throw new Error(`usage: lab ${cmd} NODE`);
      const t0 = Date.now();
      if (cmd === "rebuild") await rebuildNode(name, { log });
      else if (cmd === "stop") await stopNode(name);
      else await startNode(name);
      log(`${cmd} ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return 0;
    }
    case "ssh": {
      const [name, ...command] = rest;
      if (!name) throw new Error("usage: lab ssh NODE [COMMAND...]");
      const r = await sshExec(name, command.length ? command.join(" ") : "true");
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code;
    }
    case "fixture-ignition": {
      const dir = path.resolve(rest[0] ?? path.join(labPaths().out, "fixture-ignition"));
      fs.mkdirSync(dir, { recursive: true });
      for (const n of loadLabSpec().nodes) {
        fs.writeFileSync(path.join(dir, `${n.name}.ign`), JSON.stringify(minimalIgnition(n.name), null, 2) + "\n");
      }
      process.stdout.write(`${dir}\n`);
      return 0;
    }
    default:
      process.stderr.write("usage: lab up | down [--purge] | rebuild NODE | stop NODE | start NODE | ssh NODE [CMD] | fixture-ignition DIR\n");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[lab] error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
