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

/** A backup schedule (homelab:platform.backup.schedule): daily at a time of day, or every so many seconds. */
export type BackupSchedule = { readonly kind: "daily"; readonly hour: number; readonly minute: number } | { readonly kind: "every"; readonly seconds: number };

/** `HH:MM` (24 h) is daily at that time; a duration (e.g. `6h`) is every that long. Undefined when it is neither. */
export function parseBackupSchedule(text: string): BackupSchedule | undefined {
  const time = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (time) return { kind: "daily", hour: Number(time[1]), minute: Number(time[2]) };
  const seconds = parseDurationSeconds(text);
  return seconds === undefined ? undefined : { kind: "every", seconds };
}
