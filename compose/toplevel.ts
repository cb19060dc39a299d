import * as path from "path";
import { describe, isPlainObject, IssueList } from "../config/reader";
import { OBJECT_KEY } from "./names";
import { PLATFORM_CONFIGS, PLATFORM_SECRETS, PlatformConfigFile, PlatformSecret, SecretSource, StackConfig, StackSecret } from "./types";

/** Lengths a generated secret may have: shorter is guessable, longer breaks apps with fixed buffers. */
export const SECRET_LENGTH = { min: 16, max: 128 } as const;
/** A stack config key (`pulumi config set --secret homelab:<key>`), camelCase like every homelab key. */
const CONFIG_KEY = /^[a-z][a-zA-Z0-9]*$/;

const SOURCE_FIX = (key: string) =>
  `give it a source under x-homelab: either "x-homelab: { generate: { length: 32 } }" (a random value Pulumi keeps) ` +
  `or "x-homelab: { config: ${camel(key)} }" and run \`pulumi config set --secret homelab:${camel(key)} <value>\``;

function camel(key: string): string {
  const words = key.split(/[^a-zA-Z0-9]+/).filter((w) => w !== "");
  const joined = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase())).join("");
  return /^[a-z]/.test(joined) ? joined : `s${joined}`;
}

/** The entries of a top-level section (`secrets:`, `configs:`, `networks:`); an entry written as `name:` with no value is `{}`. */
export function sectionEntries(issues: IssueList, doc: Record<string, unknown>, section: string): [string, Record<string, unknown>][] {
  const value = doc[section];
  if (value === undefined || value === null) return [];
  if (!isPlainObject(value)) {
    issues.error(section, `expected a map of names, got ${describe(value)}. Fix: write one "name:" entry per line under ${section}.`);
    return [];
  }
  return Object.entries(value).flatMap(([key, spec]): [string, Record<string, unknown>][] => {
    if (spec === null || spec === undefined) return [[key, {}]];
    if (isPlainObject(spec)) return [[key, spec]];
    issues.error(`${section}.${key}`, `expected a map of settings, got ${describe(spec)}. Fix: write its settings as "key: value" lines.`);
    return [];
  });
}

function checkObjectKey(issues: IssueList, section: string, key: string): boolean {
  if (OBJECT_KEY.test(key)) return true;
  issues.error(
    `${section}.${key}`,
    `the name becomes part of a Swarm object name, which allows only letters, digits, "-", "_" and ".", starting and ending with a letter or digit. Fix: rename it (and every reference to it).`,
  );
  return false;
}

function secretSource(issues: IssueList, at: string, key: string, homelab: unknown): SecretSource | undefined {
  if (!isPlainObject(homelab)) {
    issues.error(at, `has no source. Fix: ${SOURCE_FIX(key)}.`);
    return undefined;
  }
  const sources = ["generate", "config", "platform"];
  const kinds = sources.filter((k) => homelab[k] !== undefined);
  const unknown = Object.keys(homelab).filter((k) => !sources.includes(k));
  if (kinds.length !== 1 || unknown.length > 0) {
    issues.error(`${at}.x-homelab`, `must hold exactly one of "generate", "config" or "platform"${unknown.length ? ` (not ${unknown.join(", ")})` : ""}. Fix: ${SOURCE_FIX(key)}.`);
    return undefined;
  }
  if (kinds[0] === "platform") {
    const name = homelab.platform;
    if (typeof name === "string" && (PLATFORM_SECRETS as readonly string[]).includes(name)) return { kind: "platform", name: name as PlatformSecret };
    issues.error(`${at}.x-homelab.platform`, `${describe(name)} is not something the platform makes. Fix: one of ${PLATFORM_SECRETS.join(", ")}.`);
    return undefined;
  }
  if (kinds[0] === "config") {
    const configKey = homelab.config;
    if (typeof configKey === "string" && CONFIG_KEY.test(configKey)) return { kind: "config", key: configKey };
    issues.error(`${at}.x-homelab.config`, `${describe(configKey)} is not a camelCase config key. Fix: e.g. "config: ${camel(key)}".`);
    return undefined;
  }
  const length = isPlainObject(homelab.generate) ? homelab.generate.length : undefined;
  if (typeof length === "number" && Number.isInteger(length) && length >= SECRET_LENGTH.min && length <= SECRET_LENGTH.max) {
    return { kind: "random", length };
  }
  issues.error(
    `${at}.x-homelab.generate`,
    `needs "length", a whole number from ${SECRET_LENGTH.min} to ${SECRET_LENGTH.max} (got ${describe(length)}). Fix: "generate: { length: 32 }".`,
  );
  return undefined;
}

/** Top-level `secrets:`: each needs an `x-homelab` source; `file:`, `environment:` and `external:` are refused. */
export function readSecrets(issues: IssueList, doc: Record<string, unknown>): StackSecret[] {
  return sectionEntries(issues, doc, "secrets").flatMap(([key, spec]) => {
    const at = `secrets.${key}`;
    if (!checkObjectKey(issues, "secrets", key)) return [];
    const refused: [string, string][] = [
      ["file", "would keep the secret in a file next to the compose file, i.e. in the repository"],
      ["environment", "would take the secret from the shell of whoever deploys (the leader's SSH session: empty)"],
      ["external", "is a secret made by hand outside Pulumi, which no `pulumi up` can recreate"],
    ];
    let ok = true;
    for (const [field, why] of refused.filter(([f]) => spec[f] !== undefined)) {
      issues.error(`${at}.${field}`, `${why}. Fix: remove "${field}" and ${SOURCE_FIX(key)}.`);
      ok = false;
    }
    const source = secretSource(issues, at, key, spec["x-homelab"]);
    return ok && source ? [{ key, source }] : [];
  });
}

/** A config the platform renders (`x-homelab: { platform: traefik-static }`); its content comes later. */
function platformConfig(issues: IssueList, at: string, key: string, spec: Record<string, unknown>): StackConfig[] {
  const name = isPlainObject(spec["x-homelab"]) ? spec["x-homelab"].platform : undefined;
  const others = Object.keys(spec).filter((k) => k !== "x-homelab");
  if (typeof name !== "string" || !(PLATFORM_CONFIGS as readonly string[]).includes(name) || others.length > 0) {
    issues.error(
      `${at}.x-homelab`,
      `${others.length ? `cannot be combined with ${others.join(", ")}` : `${describe(name)} is not a file the platform renders`}. Fix: "x-homelab: { platform: <name> }" alone, with one of ${PLATFORM_CONFIGS.join(", ")}.`,
    );
    return [];
  }
  return [{ key, content: "", platform: name as PlatformConfigFile }];
}

/**
 * Top-level `configs:`: each needs `file:` (read relative to the compose file, and inside the stack's
 * folder, so a compose file copied from the internet cannot ship /etc/shadow into a readable Swarm
 * config), an inline `content:`, or a file the platform renders (`x-homelab: { platform: … }`).
 */
export function readConfigs(
  issues: IssueList,
  doc: Record<string, unknown>,
  composeFile: string,
  readFile: (relPath: string) => string,
): StackConfig[] {
  return sectionEntries(issues, doc, "configs").flatMap(([key, spec]): StackConfig[] => {
    const at = `configs.${key}`;
    if (!checkObjectKey(issues, "configs", key)) return [];
    if (spec["x-homelab"] !== undefined) return platformConfig(issues, at, key, spec);
    const { file, content } = spec;
    if ((file === undefined) === (content === undefined)) {
      const what = file === undefined ? "has neither file: nor content:" : "has both file: and content:";
      const external = spec.external !== undefined ? " (external configs are not supported: the platform names configs by their content)" : "";
      issues.error(at, `${what}${external}. Fix: give exactly one, e.g. "file: ./${key}.conf" next to the compose file.`);
      return [];
    }
    if (content !== undefined) {
      if (typeof content === "string") return [{ key, content }];
      issues.error(`${at}.content`, `expected a string, got ${describe(content)}. Fix: write the text as a string (a "|" block for several lines).`);
      return [];
    }
    if (typeof file !== "string" || file.trim() === "") {
      issues.error(`${at}.file`, `expected a path, got ${describe(file)}. Fix: e.g. "file: ./${key}.conf".`);
      return [];
    }
    const rel = path.posix.normalize(file);
    if (path.posix.isAbsolute(rel) || path.win32.isAbsolute(rel) || rel === ".." || rel.startsWith("../") || rel.startsWith("~")) {
      issues.error(`${at}.file`, `${JSON.stringify(file)} is outside the stack's folder. Fix: copy the file into the folder of ${composeFile} and name it relative to it.`);
      return [];
    }
    const shown = path.posix.join(path.posix.dirname(composeFile.split(path.sep).join("/")), rel);
    try {
      return [{ key, content: readFile(rel), file: shown }];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      issues.error(`${at}.file`, `cannot read ${shown}${code ? ` (${code})` : ""}. Fix: create it, or correct the path (relative to the compose file).`);
      return [];
    }
  });
}

/**
 * Top-level `networks:`: the Swarm names of the external ones (its `name:` if given, else the key),
 * which the platform creates before any stack (the seed's `backend` network was never created, so
 * a fresh install stopped there). Networks that are not external are the stack's own.
 */
export function readNetworks(issues: IssueList, doc: Record<string, unknown>): { declared: string[]; external: string[] } {
  const entries = sectionEntries(issues, doc, "networks");
  const external = entries.flatMap(([key, spec]) => {
    if (spec.external === undefined || spec.external === false) return [];
    if (spec.external !== true) {
      issues.error(`networks.${key}.external`, `expected true or false, got ${describe(spec.external)}. Fix: "external: true", and the network's Swarm name under "name:".`);
      return [];
    }
    const name = spec.name ?? key;
    if (typeof name === "string" && name !== "") return [name];
    issues.error(`networks.${key}.name`, `expected a network name, got ${describe(name)}. Fix: e.g. "name: ${key}".`);
    return [];
  });
  return { declared: entries.map(([key]) => key), external };
}
