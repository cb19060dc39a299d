import { describe, isPlainObject, IssueList } from "../config/reader";
import { memoryBytes, MEMORY_FORMS } from "./memory";
import { readRoutes } from "./routes";
import { IngressPort, ServiceMemory, ServiceRoute } from "./types";

/** What a service may refer to: the top-level keys of the compose file. */
export interface Declared {
  readonly secrets: ReadonlySet<string>;
  readonly configs: ReadonlySet<string>;
  readonly networks: ReadonlySet<string>;
}

/** What one service adds to the StackSource. */
export interface ServiceFacts {
  readonly ingressPorts: IngressPort[];
  readonly memory?: ServiceMemory;
  readonly routes?: readonly ServiceRoute[];
}

/** swarmkit's rule for service names (and the stack prefix makes `<stack>_<service>`, at most 63). */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const SERVICE_NAME_MAX = 63;

/**
 * Keys `docker stack deploy` drops ("Ignoring unsupported options", seen from Docker 20.10's CLI),
 * so the file would promise what the swarm never does. Each with the fix.
 */
const IGNORED_BY_SWARM: Record<string, string> = {
  build: "Swarm cannot build images. Fix: build the image elsewhere, push it (or load it on every node) and set image: <name>:<version>.",
  container_name: "Swarm names containers itself. Fix: remove it; other services reach this one by its service name.",
  devices:
    "Swarm services get no devices (the seed's Home Assistant never saw its USB sticks). Fix: remove it, and run what needs the device outside the swarm (e.g. a systemd unit from snippets) or reach the device over the network (e.g. ser2net).",
  restart: "Swarm restarts tasks by deploy.restart_policy. Fix: replace it with deploy.restart_policy (condition: any, on-failure or none).",
  links: "Fix: remove it; services on a shared network reach each other by service name.",
  external_links: "Fix: remove it; put both services on a shared network and use the service name.",
  network_mode: "Fix: remove it and use networks: (for the host's network stack, an external network named host).",
  privileged: "Swarm services cannot run privileged. Fix: remove it.",
  cgroup_parent: "Fix: remove it.",
  security_opt: "Fix: remove it.",
  userns_mode: "Fix: remove it.",
  shm_size: "Fix: remove it; mount a tmpfs volume at /dev/shm if the service needs more.",
};

/** A variable name that reads like it holds a secret (the value would show in `docker service inspect`). */
const SECRET_LIKE = /PASSWORD|SECRET|TOKEN|KEY$/i;

function imageProblem(image: string): string | undefined {
  const [nameAndTag, digest] = image.split("@", 2);
  if (digest !== undefined) return undefined; // a digest pins harder than any tag
  const colon = nameAndTag.indexOf(":", nameAndTag.lastIndexOf("/") + 1); // a registry's ":5000/" is not a tag
  const repo = colon === -1 ? nameAndTag : nameAndTag.slice(0, colon);
  const fix = `Fix: pin the version you tested, e.g. ${repo}:1.2.3`;
  if (colon === -1) return `${JSON.stringify(image)} has no version tag, so each node may run whatever it pulled last. ${fix}.`;
  if (nameAndTag.slice(colon + 1) === "latest") return `${JSON.stringify(image)} uses :latest, which moves (the seed's images all did). ${fix}.`;
  return undefined;
}

/** Names a service refers to in `secrets:`/`configs:` (short `- key` or long `- source: key`) or `networks:` (list or map). */
function references(issues: IssueList, at: string, value: unknown): { key: string; name: string }[] {
  if (value === undefined || value === null) return [];
  if (isPlainObject(value)) return Object.keys(value).map((name) => ({ key: `${at}.${name}`, name }));
  if (!Array.isArray(value)) {
    issues.error(at, `expected a list, got ${describe(value)}. Fix: list the names, one "- name" per line.`);
    return [];
  }
  return value.flatMap((item, i) => {
    const name = isPlainObject(item) ? item.source : item;
    if (typeof name === "string") return [{ key: `${at}[${i}]`, name }];
    issues.error(`${at}[${i}]`, `expected a name or "source: <name>", got ${describe(item)}. Fix: name a top-level entry.`);
    return [];
  });
}

function checkReferences(issues: IssueList, at: string, spec: Record<string, unknown>, declared: Declared): void {
  for (const section of ["secrets", "configs", "networks"] as const) {
    const known = declared[section];
    for (const ref of references(issues, `${at}.${section}`, spec[section])) {
      if (known.has(ref.name) || (section === "networks" && ref.name === "default")) continue;
      issues.error(ref.key, `"${ref.name}" is not declared under the top-level ${section}:. Fix: declare it there, or correct the name.`);
    }
  }
}

/** `environment:` as a map or a list of `NAME=value`: a literal value under a secret-like name is refused. */
function checkEnvironment(issues: IssueList, at: string, env: unknown): void {
  const pairs: [string, string, unknown][] = isPlainObject(env)
    ? Object.entries(env).map(([k, v]) => [`${at}.${k}`, k, v])
    : Array.isArray(env)
      ? env.map((item, i) => {
          const [k, ...rest] = String(item).split("=");
          return [`${at}[${i}]`, k, rest.length ? rest.join("=") : undefined];
        })
      : [];
  for (const [key, name, value] of pairs) {
    const literal = (typeof value === "string" && value !== "") || typeof value === "number" || typeof value === "boolean";
    // A path to a mounted secret (Tailscale's `file:` prefix too) and an on/off switch hold no secret.
    const harmless = /^(?:file:)?\/run\/secrets\//.test(String(value)) || /^(?:true|false)$/i.test(String(value));
    if (!literal || !SECRET_LIKE.test(name) || /_FILE$/i.test(name) || harmless) continue;
    const secret = name.toLowerCase();
    issues.error(
      key,
      `${name} looks like a secret written in plain text (anyone with Docker access reads it in \`docker service inspect\`). ` +
        `Fix: declare a top-level secret ${secret} with an x-homelab source, list it under the service's secrets: and set ${name}_FILE=/run/secrets/${secret} (the image must read *_FILE variables).`,
    );
  }
}

function checkMemory(issues: IssueList, at: string, deploy: unknown): ServiceMemory | undefined {
  const resources = isPlainObject(deploy) && isPlainObject(deploy.resources) ? deploy.resources : {};
  const read = (kind: "limits" | "reservations", example: string): number | undefined => {
    const key = `${at}.deploy.resources.${kind}.memory`;
    const group = resources[kind];
    const value = isPlainObject(group) ? group.memory : undefined;
    if (value === undefined || value === null) {
      issues.error(key, `is missing: memory is what a 2 GB Pi runs out of, and the platform checks that reservations fit 75% of each node. Fix: set it, e.g. "${kind}: { memory: ${example} }".`);
      return undefined;
    }
    if (typeof value !== "string") {
      issues.error(key, `${describe(value)} must be a string (docker stack deploy refuses numbers). Fix: write it with a unit, e.g. "${example}".`);
      return undefined;
    }
    try {
      return memoryBytes(value);
    } catch {
      issues.error(key, `${JSON.stringify(value)} is not a size. Fix: write ${MEMORY_FORMS}.`);
      return undefined;
    }
  };
  const limit = read("limits", "128M");
  const reservation = read("reservations", "64M");
  if (limit === undefined || reservation === undefined) return undefined;
  if (reservation > limit) {
    issues.error(`${at}.deploy.resources.reservations.memory`, `reserves more than its limit allows. Fix: make the reservation at most the limit.`);
    return undefined;
  }
  return { limit, reservation };
}

function checkDeployLabels(issues: IssueList, at: string, deploy: unknown): void {
  const labels = isPlainObject(deploy) ? deploy.labels : undefined;
  if (labels === undefined || labels === null || isPlainObject(labels)) return;
  if (Array.isArray(labels) && labels.every((l) => typeof l === "string")) return;
  issues.error(`${at}.deploy.labels`, `expected a map or a list of "key=value" strings, got ${describe(labels)}. Fix: write "key: value" lines.`);
}

/** Ports published through the routing mesh: the short syntax always is, the long one unless `mode: host`. */
function ingressPorts(service: string, ports: unknown): IngressPort[] {
  if (!Array.isArray(ports)) return [];
  return ports.flatMap((p): IngressPort[] => {
    if (typeof p === "string" || typeof p === "number") return [{ service, spec: String(p) }];
    if (!isPlainObject(p) || p.mode === "host") return [];
    const published = p.published === undefined ? "" : `${String(p.published)}:`;
    return [{ service, spec: `${published}${String(p.target)}/${String(p.protocol ?? "tcp")}` }];
  });
}

/** Checks one service (every problem goes to `issues`) and returns what the platform needs from it. */
export function checkService(issues: IssueList, stack: string, name: string, spec: unknown, declared: Declared): ServiceFacts {
  const at = `services.${name}`;
  if (!SERVICE_NAME.test(name) || `${stack}_${name}`.length > SERVICE_NAME_MAX) {
    issues.error(at, `Swarm names the service ${stack}_${name}, which must be at most ${SERVICE_NAME_MAX} letters, digits, "-" and "_", starting and ending with a letter or digit. Fix: rename it.`);
  }
  if (!isPlainObject(spec)) {
    issues.error(at, `expected a map of settings, got ${describe(spec)}. Fix: give it at least image: and deploy.resources.`);
    return { ingressPorts: [] };
  }
  const image = spec.image;
  if (typeof image !== "string" || image.trim() === "") {
    issues.error(`${at}.image`, `is missing. Fix: name a pinned image, e.g. "image: traefik/whoami:v1.10.3".`);
  } else {
    const problem = imageProblem(image);
    if (problem) issues.error(`${at}.image`, problem);
  }
  for (const key of Object.keys(spec).filter((k) => k in IGNORED_BY_SWARM)) {
    issues.error(`${at}.${key}`, `is ignored by docker stack deploy. ${IGNORED_BY_SWARM[key]}`);
  }
  checkReferences(issues, at, spec, declared);
  checkEnvironment(issues, `${at}.environment`, spec.environment);
  checkDeployLabels(issues, at, spec.deploy);
  return {
    ingressPorts: ingressPorts(name, spec.ports),
    memory: checkMemory(issues, at, spec.deploy),
    routes: readRoutes(issues, at, name, spec["x-homelab"]),
  };
}
