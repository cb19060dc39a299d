import * as fs from "fs";
import * as path from "path";
import { describe, isPlainObject, IssueList } from "../config/reader";
import { STACK_NAME, STACK_NAME_MAX } from "./names";
import { checkService } from "./services";
import { readConfigs, readNetworks, readSecrets } from "./toplevel";
import { ROUTING_NETWORK } from "./routes";
import { IngressPort, ServiceMemory, ServiceRoute, StackError, StackSource } from "./types";
import { parseComposeYaml } from "./yaml";

/** The compose file names a stack folder may hold (the compose spec's, preferred first); exactly one of them. */
export const COMPOSE_FILES = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"] as const;

/** Compose file versions `docker stack deploy` of Docker 20.10 takes that allow `name:` on external secrets and configs. */
const VERSION = /^3\.[5-9]$/;
const TOP_LEVEL = new Set(["version", "services", "networks", "volumes", "secrets", "configs"]);
/** Sections whose strings `docker stack deploy` interpolates. */
const INTERPOLATED = ["services", "networks", "volumes", "secrets", "configs"];

/**
 * `$VAR` and `${VAR}` would be filled by `docker stack deploy` from the environment of the node that
 * runs it (the leader, over SSH), not from the owner's shell: empty, silently.
 */
function checkInterpolation(issues: IssueList, at: string, value: unknown): void {
  if (typeof value === "string") {
    const m = /\$(\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)/.exec(value.replace(/\$\$/g, ""));
    if (m) {
      issues.error(
        at,
        `"$${m[1]}" would be filled from the environment of the swarm leader's SSH session (empty), not from yours. ` +
          `Fix: write the value itself, use an x-homelab secret for a secret, or write $$ for a literal $.`,
      );
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkInterpolation(issues, `${at}[${i}]`, v));
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) checkInterpolation(issues, `${at}.${k}`, v);
  }
}

function checkTopLevel(issues: IssueList, doc: Record<string, unknown>): void {
  for (const key of Object.keys(doc).filter((k) => !TOP_LEVEL.has(k) && !k.startsWith("x-"))) {
    issues.error(key, `is not a top-level key docker stack deploy knows (the stack is named by its folder). Fix: remove it; allowed: ${[...TOP_LEVEL].join(", ")} and x-… extensions.`);
  }
  const version = doc.version;
  if (version !== undefined && !(typeof version === "string" && VERSION.test(version))) {
    issues.error("version", `${describe(version)} is not a compose file version from "3.5" to "3.9" (as a string), which external secrets with a name need. Fix: write version: "3.9", or remove it (the platform writes "3.9").`);
  }
  for (const section of INTERPOLATED) checkInterpolation(issues, section, doc[section]);
}

/**
 * Reads and checks one compose file: the pure part of `loadStack`, with the file system behind
 * `readFile` (a config `file:` relative to the compose file; it throws when the file is missing).
 * Every problem is collected first, so the owner sees all of them in one run, before anything
 * changes.
 * @throws StackError listing every problem, each with the file, the key and a fix.
 */
export function parseStack(name: string, file: string, text: string, readFile: (relPath: string) => string): StackSource {
  const issues = new IssueList();
  if (!STACK_NAME.test(name) || name.length > STACK_NAME_MAX) {
    issues.error("", `the stack name ${JSON.stringify(name)} (its folder) must be at most ${STACK_NAME_MAX} lowercase letters, digits and "-", starting and ending with a letter or digit, since it prefixes every Swarm name of the stack. Fix: rename the folder.`);
  }
  const parsed = parseComposeYaml(text);
  if ("problems" in parsed) {
    for (const p of parsed.problems) {
      issues.error(p.line === undefined ? "" : `line ${p.line}, column ${p.column}`, `YAML syntax: ${p.message}. Fix: correct the YAML there.`);
    }
    throw new StackError(file, issues.errors);
  }
  const doc = parsed.value;
  if (!isPlainObject(doc)) {
    issues.error("", `expected a compose file (a map with services:), got ${describe(doc)}. Fix: start from stacks/whoami/compose.yml.`);
    throw new StackError(file, issues.errors);
  }
  checkTopLevel(issues, doc);
  const secrets = readSecrets(issues, doc);
  const configs = readConfigs(issues, doc, file, readFile);
  const networks = readNetworks(issues, doc);
  const declared = {
    secrets: new Set(Object.keys(isPlainObject(doc.secrets) ? doc.secrets : {})),
    configs: new Set(Object.keys(isPlainObject(doc.configs) ? doc.configs : {})),
    networks: new Set(networks.declared),
  };

  const services = isPlainObject(doc.services) ? Object.entries(doc.services) : [];
  if (services.length === 0) {
    issues.error("services", `${doc.services === undefined ? "is missing" : `expected a map with at least one service, got ${describe(doc.services)}`}. Fix: add at least one service under services:.`);
  }
  const ingressPorts: IngressPort[] = [];
  const memory: Record<string, ServiceMemory> = {};
  const routes: ServiceRoute[] = [];
  for (const [service, spec] of services) {
    const facts = checkService(issues, name, service, spec, declared);
    ingressPorts.push(...facts.ingressPorts);
    if (facts.memory) memory[service] = facts.memory;
    routes.push(...(facts.routes ?? []));
  }
  for (const [i, route] of routes.entries()) {
    const first = routes.findIndex((r) => r.host === route.host);
    if (first !== i) issues.error(`services.${route.service}.x-homelab.route.host`, `"${route.host}" is also the host of ${routes[first].service}. Fix: give each route its own host.`);
  }
  // Routed services are attached to the routing network (renderStack), which the platform must make first.
  const external = routes.length > 0 && !networks.external.includes(ROUTING_NETWORK) ? [...networks.external, ROUTING_NETWORK] : networks.external;
  if (issues.errors.length > 0) throw new StackError(file, issues.errors);
  return {
    name,
    file,
    document: doc,
    services: services.map(([service]) => service),
    secrets,
    configs,
    externalNetworks: external,
    ingressPorts,
    routes,
    memory,
  };
}

/** The compose file of a stack folder. @throws StackError if there is none or more than one. */
function composeFileIn(dir: string): string {
  const found = COMPOSE_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
  if (found.length === 1) return path.join(dir, found[0]);
  const message =
    found.length === 0
      ? `holds no compose file. Fix: add compose.yml (or remove the folder).`
      : `holds ${found.join(" and ")}; which one is the stack? Fix: keep one.`;
  throw new StackError(dir, [{ key: "", message }]);
}

/**
 * Reads the stack in `dir` (its compose file, and the config files it names, relative to it).
 * The stack's name is the folder's name.
 * @throws StackError listing every problem (see parseStack).
 */
export function loadStack(dir: string): StackSource {
  const file = composeFileIn(dir);
  const folder = path.dirname(file);
  return parseStack(path.basename(path.resolve(dir)), file, fs.readFileSync(file, "utf8"), (rel) => fs.readFileSync(path.join(folder, rel), "utf8"));
}

/** Names of the stack folders under `root` (e.g. `stacks/`): every folder holding a compose file, sorted. */
export function listStacks(root: string): string[] {
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && COMPOSE_FILES.some((f) => fs.existsSync(path.join(root, e.name, f))))
    .map((e) => e.name)
    .sort();
}
