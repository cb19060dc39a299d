/**
 * The backup drills on a fresh lab (lab/drill.ts), torn down at the end (DRILL_KEEP=1 keeps it):
 * - `npm run drill:restore`: known files and a SQLite database written during the backup, backed up
 *   by the program's agent to the lab's SFTP target, wiped, restored with the restore command's
 *   client, checked. Last line: `restore_drill files=<n> identical=<true|false>
 *   sqlite_ok=<true|false> backup_seconds=… restore_seconds=…`.
 * - `npm run drill:rebuild`: the same first, then every node destroyed (containers and disks),
 *   `pulumi up` on fresh nodes from the same config and state, every volume restored from the
 *   repository (the SFTP target outlives the nodes, as a NAS would). Last line:
 *   `rebuild_seconds=… volumes=<n> identical=<true|false>`, the clock running from the destruction
 *   to the last volume restored and checked. Target: ≤ 10 min.
 */
import { labDown } from "./lab";
import { rebuildDrill, rebuildDrillLine, restoreDrill, restoreDrillLine, setUpDrillLab } from "./drill";

const which = process.argv[2];
const log = (line: string) => process.stderr.write(`[drill:${which}] ${line}\n`);

async function main(): Promise<void> {
  if (which !== "restore" && which !== "rebuild") throw new Error("usage: ts-node lab/drill-cli.ts restore|rebuild (npm run drill:restore, npm run drill:rebuild)");
  let lab = await setUpDrillLab(log);
  try {
    const restored = await restoreDrill(lab, log);
    log(`the writer found after the restore: ${restored.startupCheck} (it had ${restored.rowsAtBackup} rows when stopped for the backup)`);
    if (which === "restore") {
      process.stdout.write(`${restoreDrillLine(restored)}\n`);
      if (!restored.identical || !restored.sqliteOk) process.exitCode = 1;
      return;
    }
    const rebuilt = await rebuildDrill(lab, restored, log);
    lab = rebuilt.lab;
    log(`sqlite_ok=${rebuilt.sqliteOk}`);
    process.stdout.write(`${rebuildDrillLine(rebuilt)}\n`);
    if (!rebuilt.identical || !rebuilt.sqliteOk) process.exitCode = 1;
  } finally {
    if (!process.env.DRILL_KEEP) {
      await lab.pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
      await labDown({ log: () => undefined });
    }
  }
}

main().catch((err: Error) => {
  log(`failed: ${err.message}`);
  process.exit(1);
});
