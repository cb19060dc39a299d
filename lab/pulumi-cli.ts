/**
 * `npm run lab:pulumi -- <args>`: any pulumi command against the lab stack, with the same offline
 * environment, backend and working copy `npm run lab` uses (e.g. `-- preview`, `-- stack output`).
 * Pulumi's stdout is ours, so `npm run -s lab:pulumi -- stack output --json | jq` works (-s keeps
 * npm's own banner off stdout); our log lines go to stderr.
 */
import { labPulumi } from "./stack";

async function main(args: string[]): Promise<number> {
  const pulumi = await labPulumi((line) => process.stderr.write(`[lab] ${line}\n`));
  const result = await pulumi(args, { allowFail: true, inherit: true });
  return result.code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[lab] error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
