import * as fs from "fs";
import * as YAML from "yaml";
import { isPlainObject } from "./reader";
import { ValidationResult, validateConfig } from "./validate";

const NAMESPACE = "homelab";

/**
 * Picks the `homelab:` keys out of a flat Pulumi config map ({"homelab:nodes": [...]}) and strips
 * the prefix; keys of other namespaces (providers, pulumi:) are left out.
 */
export function homelabNamespace(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    if (key.startsWith(`${NAMESPACE}:`)) out[key.slice(NAMESPACE.length + 1)] = value;
  }
  return out;
}

/** Pulumi hands structured config values to the program as JSON text; scalars stay as they are. */
export function decodePulumiConfigValue(value: string): unknown {
  const trimmed = value.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return value;
    }
  }
  return value;
}

/** Reads and validates a stack config file (`Pulumi.<stack>.yaml`) without the Pulumi CLI. */
export function loadStackConfigFile(path: string): ValidationResult {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`Cannot read stack config ${path}: ${(err as Error).message}. Fix: pass --stack NAME for Pulumi.NAME.yaml, or --config PATH.`);
  }
  let document: unknown;
  try {
    document = YAML.parse(text);
  } catch (err) {
    // Only the first line: the rest quotes the file around the error, which may be a pasted private key.
    const where = (err as Error).message.split("\n")[0].replace(/:$/, "");
    throw new Error(`${path} is not valid YAML: ${where}. Fix: check the indentation and quoting there.`);
  }
  const config = isPlainObject(document) ? document.config : undefined;
  if (!isPlainObject(config)) {
    throw new Error(`${path} has no "config:" map. Fix: put the homelab settings under config:, as in Pulumi.homelab.yaml.`);
  }
  const homelab = homelabNamespace(config);
  // A secret is `{secure: <ciphertext>}` in the file.
  const secrets = Object.keys(homelab).filter((key) => isPlainObject(homelab[key]) && Object.keys(homelab[key] as object).join() === "secure");
  return validateConfig(homelab, secrets);
}
