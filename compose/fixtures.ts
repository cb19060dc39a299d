import * as YAML from "yaml";
import { parseStack } from "./load";
import { StackError, StackSource } from "./types";

/** Shared by the compose tests: a valid stack as plain JS, to be edited per test, and its files. */
export function validDoc(): Record<string, any> {
  return {
    services: {
      web: {
        image: "traefik/whoami:v1.10.3",
        environment: { WEB_PASSWORD_FILE: "/run/secrets/web_password" },
        secrets: ["web_password"],
        configs: [{ source: "site", target: "/site.txt" }],
        networks: ["traefik-public", "internal"],
        deploy: { resources: { limits: { memory: "64M" }, reservations: { memory: "32M" } } },
      },
    },
    networks: { "traefik-public": { external: true }, internal: {} },
    secrets: { web_password: { "x-homelab": { generate: { length: 32 } } } },
    configs: { site: { file: "./site.txt" } },
  };
}

export const FILE = "stacks/demo/compose.yml";
export const FILES: Record<string, string> = { "site.txt": "hello\n" };

/** Reads `files` (names relative to the compose file) as loadStack would read the disk. */
export function reader(files: Record<string, string> = FILES): (rel: string) => string {
  return (rel) => {
    if (!Object.hasOwn(files, rel)) throw Object.assign(new Error(`ENOENT: ${rel}`), { code: "ENOENT" });
    return files[rel];
  };
}

export function parse(doc: unknown, files: Record<string, string> = FILES): StackSource {
  return parseStack("demo", FILE, typeof doc === "string" ? doc : YAML.stringify(doc), reader(files));
}

/** The problems parseStack reports for `doc`, one "key: message" string each (none: []). */
export function problems(doc: unknown, files?: Record<string, string>): string[] {
  try {
    parse(doc, files);
    return [];
  } catch (e) {
    if (!(e instanceof StackError)) throw e;
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
}
