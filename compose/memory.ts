/**
 * Compose memory sizes, parsed as Docker parses them (docker/go-units `RAMInBytes`): a number, an
 * optional unit b, k, m, g (case-insensitive, multiples of 1024), optionally followed by `b` or
 * `ib` (`512M`, `1g`, `256MiB`, `1.5G`, `64kb`). Stricter than Docker in one way: no space before
 * the unit and no t/p units (a Pi has 2–8 GB), so a typo is reported rather than guessed.
 */
const MEMORY = /^(\d+(?:\.\d+)?)([bkmg])?(i?b)?$/i;
const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The accepted forms, for error messages. */
export const MEMORY_FORMS = `a number with a unit b, k, m or g (e.g. "512M", "1g", "256MiB")`;

/**
 * Bytes in a compose memory size. A number is taken as bytes (as Docker takes `536870912`), though
 * `docker stack deploy` wants strings in the file (`parseStack` says so).
 * @throws Error naming the value and the accepted forms.
 */
export function memoryBytes(value: string | number): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new Error(`memory ${value} is not a whole number of bytes; use ${MEMORY_FORMS}`);
  }
  const m = MEMORY.exec(value);
  // "b" alone is the byte unit; a "b"/"ib" suffix needs a k, m or g before it ("1bb", "1ib" are not sizes)
  if (m === null || (m[3] !== undefined && (m[2] === undefined || m[2].toLowerCase() === "b"))) {
    throw new Error(`memory ${JSON.stringify(value)} is not a size; use ${MEMORY_FORMS}`);
  }
  // go-units multiplies the float and truncates to an int64: "1.5k" is 1536, "0.1k" is 102
  return Math.trunc(Number(m[1]) * UNITS[(m[2] ?? "b").toLowerCase()]);
}
