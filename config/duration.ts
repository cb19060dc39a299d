/** Go-style durations (`1h30m`, `90m`, `45s`) as used by Flatcar's locksmithd and our own settings. */

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };

/** Seconds in a Go duration; undefined when malformed. A leading "-" gives a negative number. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(-?)((?:\d+(?:\.\d+)?[hms])+)$/.exec(text.trim());
  if (!match) return undefined;
  let total = 0;
  for (const part of match[2].matchAll(/(\d+(?:\.\d+)?)([hms])/g)) {
    total += Number(part[1]) * UNIT_SECONDS[part[2]];
  }
  return match[1] === "-" ? -total : total;
}
