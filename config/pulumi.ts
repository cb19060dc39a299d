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
    const result = validateConfig(homelabNamespace(flat));
    for (const w of result.warnings) pulumi.log.warn(`${w.key}: ${w.message}`);
    return result;
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/**
 * The stacks homelab:platform.stacks lists, loaded and checked (config/stacks.ts) before any
 * resource is registered.
 * @throws pulumi.RunError naming each file, key and fix.
 */
export function loadPulumiStacks(config: HomelabConfig, stacksDir: string): StackSource[] {
  const settings = new pulumi.Config("homelab");
  try {
    return loadStacks(config, stacksDir, (key) => settings.getSecret(key) !== undefined);
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
