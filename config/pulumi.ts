import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./reader";
import { decodePulumiConfigValue, homelabNamespace } from "./load";
import { ValidationResult, validateConfig } from "./validate";
import { HomelabConfig } from "./schema";
import { loadStacks } from "./stacks";
import { StackSource } from "../compose/types";

/**
 * Validates the running stack's `homelab:` config before any resource is registered.
 * @throws pulumi.RunError with every bad key and its fix (no stack trace: it is the user's input, not our bug).
 */
export function loadPulumiConfig(): ValidationResult {
  const flat = Object.fromEntries(Object.entries(pulumi.runtime.allConfig()).map(([k, v]) => [k, decodePulumiConfigValue(v)]));
  try {
    const result = validateConfig(homelabNamespace(flat), secretConfigKeys());
    for (const w of result.warnings) pulumi.log.warn(`${w.key}: ${w.message}`);
    return result;
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/**
 * The `homelab:` keys the stack config holds as secrets. The Node.js language host hands the
 * program their full names in PULUMI_CONFIG_SECRET_KEYS (a JSON list), beside the values in
 * PULUMI_CONFIG; the SDK reads the same variable but does not export its reader.
 */
export function secretConfigKeys(env: NodeJS.ProcessEnv = process.env): string[] {
  let keys: unknown;
  try {
    keys = JSON.parse(env.PULUMI_CONFIG_SECRET_KEYS ?? "[]");
  } catch {
    return [];
  }
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string" && k.startsWith("homelab:")).map((k) => k.slice("homelab:".length)) : [];
}

/**
 * The stacks homelab:platform.stacks lists, loaded and checked (config/stacks.ts) before any
 * resource is registered.
 * @throws pulumi.RunError naming each file, key and fix.
 */
export function loadPulumiStacks(config: HomelabConfig, stacksDir: string): StackSource[] {
  const settings = new pulumi.Config("homelab");
  try {
    return loadStacks(config, stacksDir, (key) => settings.getSecret(key) !== undefined, pulumi.getStack());
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
