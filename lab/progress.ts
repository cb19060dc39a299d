/** Progress output of lab operations: where lines go by default, and timed steps. */

export type Log = (line: string) => void;

export const defaultLog: Log = (line) => process.stderr.write(`[lab] ${line}\n`);

/** Runs a named step and reports how long it took. */
export async function step<T>(log: Log, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  log(`${name} ...`);
  const result = await fn();
  log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}
