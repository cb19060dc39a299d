/**
 * A small structural reader for untyped config: every problem is collected with the config key
 * path it belongs to (e.g. `homelab:nodes[1].address`) and a fix, so a user sees all of them at once.
 */

export interface ConfigIssue {
  /** Config key path, e.g. `homelab:nodes[1].address`. */
  readonly key: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid stack config (${issues.length} problem${issues.length === 1 ? "" : "s"}); nothing was rendered or changed:\n` +
        issues.map((i) => `  - ${i.key}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

export class IssueList {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  error(key: string, message: string): void {
    this.errors.push({ key, message });
  }
  warn(key: string, message: string): void {
    this.warnings.push({ key, message });
  }
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** "did you mean …?" for a misspelt key, or a list of what is allowed. */
function suggestKey(unknown: string, allowed: readonly string[]): string {
  const close = allowed
    .map((k) => ({ k, d: editDistance(unknown.toLowerCase(), k.toLowerCase()) }))
    .filter((c) => c.d <= Math.max(2, Math.floor(c.k.length / 3)))
    .sort((x, y) => x.d - y.d)[0];
  return close ? `did you mean "${close.k}"?` : `allowed keys: ${allowed.join(", ")}`;
}

/**
 * Reads one map-valued config entry. Getters record a problem and return the fallback on bad input,
 * so validation goes on and reports everything.
 */
export class MapReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly issues: IssueList,
    readonly key: string,
    private readonly value: Record<string, unknown>,
  ) {}

  static of(issues: IssueList, key: string, value: unknown): MapReader {
    if (value === undefined || value === null) return new MapReader(issues, key, {});
    if (!isPlainObject(value)) {
      issues.error(key, `expected a map of settings, got ${describe(value)}. Fix: write it as "key: value" lines under ${key}.`);
      return new MapReader(issues, key, {});
    }
    return new MapReader(issues, key, value);
  }

  /** The root reader's key ends in ":" (`homelab:`), so children read `homelab:nodes`, then `homelab:nodes[0].name`. */
  child(name: string): string {
    return this.key.endsWith(":") ? `${this.key}${name}` : `${this.key}.${name}`;
  }

  raw(name: string): unknown {
    this.seen.add(name);
    return this.value[name];
  }

  string(name: string, fallback: string, fix: string): string {
    const v = this.raw(name);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string" || v.trim() === "") {
      this.issues.error(this.child(name), `expected a non-empty string, got ${describe(v)}. Fix: ${fix}`);
      return fallback;
    }
    return v.trim();
  }

  requiredString(name: string, fix: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null || (typeof v === "string" && v.trim() === "")) {
      this.issues.error(this.child(name), `is required. Fix: ${fix}`);
      return undefined;
    }
    if (typeof v !== "string") {
      this.issues.error(this.child(name), `expected a string, got ${describe(v)}. Fix: ${fix}`);
      return undefined;
    }
    return v.trim();
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined || v === null) return fallback;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    this.issues.error(this.child(name), `${describe(v)} is not one of ${allowed.join(", ")}. Fix: use one of those values.`);
    return fallback;
  }

  number(name: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean; fix: string }): number {
    const v = this.raw(name);
    if (v === undefined || v === null) return fallback;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    const bad =
      typeof n !== "number" ||
      !Number.isFinite(n) ||
      (opts.integer === true && !Number.isInteger(n)) ||
      (opts.min !== undefined && n < opts.min) ||
      (opts.max !== undefined && n > opts.max);
    if (bad) {
      this.issues.error(this.child(name), `${describe(v)} is not valid. Fix: ${opts.fix}`);
      return fallback;
    }
    return n as number;
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined || v === null) return fallback;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    this.issues.error(this.child(name), `expected true or false, got ${describe(v)}. Fix: write true or false.`);
    return fallback;
  }

  list(name: string, fix: string): { key: string; value: unknown }[] {
    const v = this.raw(name);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.issues.error(this.child(name), `expected a list, got ${describe(v)}. Fix: ${fix}`);
      return [];
    }
    return v.map((value, i) => ({ key: `${this.child(name)}[${i}]`, value }));
  }

  stringList(name: string, fix: string): { key: string; value: string }[] {
    return this.list(name, fix).flatMap((item) => {
      if (typeof item.value === "string" && item.value.trim() !== "") return [{ key: item.key, value: item.value.trim() }];
      this.issues.error(item.key, `expected a non-empty string, got ${describe(item.value)}. Fix: ${fix}`);
      return [];
    });
  }

  map(name: string): MapReader {
    return MapReader.of(this.issues, this.child(name), this.raw(name));
  }

  /** Call last: every key not read by a getter (nor in `except`) is reported as unknown. */
  rejectUnknownKeys(except: ReadonlySet<string> = new Set()): void {
    const allowed = [...this.seen];
    for (const name of Object.keys(this.value)) {
      if (!this.seen.has(name) && !except.has(name)) {
        this.issues.error(this.child(name), `unknown setting; ${suggestKey(name, allowed)} Fix: rename or remove it.`);
      }
    }
  }
}
