import * as fs from "fs";
import * as path from "path";

/** The shell scripts run on nodes; each lives in swarm/scripts/<name>.sh and passes shellcheck. */
export type NodeScript = "probe" | "init" | "join-tokens" | "join" | "node-config" | "drain" | "leave" | "remove" | "network" | "object" | "stack" | "image";

const SCRIPT_DIR = path.join(__dirname, "scripts");

/** What to run over SSH: a fixed command line (no secrets) and the text to feed it on stdin. */
export interface ScriptInvocation {
  readonly command: string;
  readonly stdin: string;
}

const SAFE_ARG = /^[A-Za-z0-9._:=/@+-]+$/;

/** Shared shell sent ahead of a script: lib.sh always, others only to the scripts that use them. */
type ScriptLibrary = "lib" | "node-change";

/** Libraries beyond lib.sh, per script (only those scripts carry them, so a change reruns only their steps). */
const INCLUDES: Partial<Record<NodeScript, readonly ScriptLibrary[]>> = { "node-config": ["node-change"], drain: ["node-change"] };

export function readScript(name: NodeScript | ScriptLibrary): string {
  return fs.readFileSync(path.join(SCRIPT_DIR, `${name}.sh`), "utf8");
}

/**
 * `bash -s -- ARGS` with the script on stdin: the node runs exactly the script this checkout holds,
 * so changing a script changes the command's inputs (and nothing is installed on the node).
 * Secret values travel in a preamble on stdin, never in the command line, environment or logs.
 * @throws Error if an argument holds characters that would need shell quoting (they come from validated config).
 */
export function scriptInvocation(name: NodeScript, args: readonly string[] = [], secretPreamble = ""): ScriptInvocation {
  for (const arg of args) {
    if (!SAFE_ARG.test(arg)) throw new Error(`refusing unsafe argument ${JSON.stringify(arg)} for ${name}.sh`);
  }
  const includes = (INCLUDES[name] ?? []).map(readScript);
  const stdin = ["set -euo pipefail", secretPreamble, readScript("lib"), ...includes, readScript(name)].filter((part) => part !== "").join("\n");
  return { command: ["bash", "-s", "--", ...args].join(" "), stdin };
}

/**
 * The same script as one `bash -c` command line, for steps that get no stdin (Pulumi runs a
 * command's `delete` without it). Only for scripts whose arguments and text hold no secret.
 */
export function scriptCommandLine(name: NodeScript, args: readonly string[] = []): string {
  const { command, stdin } = scriptInvocation(name, args);
  return `bash -c ${shellQuote(stdin)} homelab-${name} ${command.split(" ").slice(3).join(" ")}`.trimEnd();
}

/** One single-quoted shell word holding `text` as it is. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The preamble that hands join.sh its token and the swarm's node IDs (comma-separated, from join-tokens.sh). */
export function joinTokenPreamble(token: string, swarmNodeIds = ""): string {
  if (!/^SWMTKN-[A-Za-z0-9-]+$/.test(token)) throw new Error("malformed swarm join token");
  if (!/^[a-z0-9,]*$/.test(swarmNodeIds)) throw new Error("malformed swarm node ID list");
  return `HOMELAB_JOIN_TOKEN='${token}'\nHOMELAB_SWARM_NODE_IDS='${swarmNodeIds}'`;
}

/** Parses `key=value` lines (probe and join-token output). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
