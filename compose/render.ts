import { isPlainObject } from "../config/reader";
import { SWARM_OBJECT_NAME, SWARM_OBJECT_NAME_MAX } from "./names";
import { ROUTING_NETWORK, routeId, routeLabels, withRoutingNetwork } from "./routes";
import { StackError, StackIssue, StackSource } from "./types";
import { stringifyCompose } from "./yaml";

/** Per compose key, the Swarm object the platform made for it (`objectName`). */
export interface RenderNames {
  readonly secrets: Readonly<Record<string, string>>;
  readonly configs: Readonly<Record<string, string>>;
}

export interface RenderOptions {
  /** More `deploy.labels` for every service (e.g. a JIT or backup marker); `homelab.stack` always wins. */
  readonly labels?: Readonly<Record<string, string>>;
  /** homelab:domain, for the routers of routed services (`x-homelab.route`); needed when the stack has routes. */
  readonly domain?: string;
}

/** The service label that marks a just-in-time service (the helper and Prometheus read it). */
export const JIT_LABEL = "homelab.jit";

/** The environment variable stack.sh sets to the i-th JIT service's current replicas (0 when new). */
export function jitReplicasVariable(index: number): string {
  return `HOMELAB_JIT_REPLICAS_${index}`;
}

/** The service label that says which stack a service belongs to. */
export const STACK_LABEL = "homelab.stack";
/** Written when the file has no `version:`: Docker 20.10's `stack deploy` requires one, and 3.9 is the newest it knows. */
export const DEFAULT_VERSION = "3.9";

/** Our extension key: it means nothing to Docker, and 20.10's schema allows `x-` keys only in some places. */
const EXTENSION = "x-homelab";

function withoutExtension(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutExtension);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== EXTENSION).map(([k, v]) => [k, withoutExtension(v)]));
}

/** The user's labels (a map, or a list of `key=value`) in the same form, with ours set (replacing the user's value for the same key). */
function withLabels(labels: unknown, ours: Readonly<Record<string, string>>): unknown {
  if (Array.isArray(labels)) {
    const kept = labels.filter((l) => !Object.hasOwn(ours, String(l).split("=")[0]));
    return [...kept, ...Object.entries(ours).map(([k, v]) => `${k}=${v}`)];
  }
  return { ...(isPlainObject(labels) ? labels : {}), ...ours };
}

/**
 * The compose YAML `docker stack deploy` gets for a stack: every top-level secret and config is
 * `{ external: true, name: <its Swarm object> }` (the platform made them; no value or file content
 * is in the output), `x-homelab` keys are gone, every service carries `homelab.stack=<name>` (and
 * `opts.labels`) in `deploy.labels`, and networks are as written (external ones are made by the
 * platform, the others by the stack). The same input gives the same bytes, so a stack redeploys
 * only when what it runs changes.
 * @throws StackError naming the stack's file and each secret/config key with no valid name in `names`.
 */
export function renderStack(source: StackSource, names: RenderNames, opts: RenderOptions = {}): string {
  const doc = withoutExtension(source.document) as Record<string, unknown>;
  const issues: StackIssue[] = [];
  for (const section of ["secrets", "configs"] as const) {
    const entries = doc[section];
    if (!isPlainObject(entries)) continue;
    for (const key of Object.keys(entries)) {
      const name = Object.hasOwn(names[section], key) ? names[section][key] : undefined;
      if (name === undefined || !SWARM_OBJECT_NAME.test(name) || name.length > SWARM_OBJECT_NAME_MAX) {
        issues.push({
          key: `${section}.${key}`,
          message: `stack ${source.name}: ${name === undefined ? "no Swarm object name was given" : `${JSON.stringify(name)} is not a valid Swarm name`} for it (a bug in the platform, not in the file).`,
        });
        continue;
      }
      entries[key] = { external: true, name };
    }
  }
  if (issues.length > 0) throw new StackError(source.file, issues);

  const ours = { ...opts.labels, [STACK_LABEL]: source.name };
  const services = isPlainObject(doc.services) ? doc.services : {};
  const routes = source.routes ?? [];
  if (routes.length > 0 && !opts.domain) throw new Error(`stack ${source.name} has routes, but renderStack was given no domain (a bug in the platform)`);
  // The key under which the file declares the routing network, if it does (it may rename it: `proxy: {external: true, name: traefik-public}`).
  const networks = isPlainObject(doc.networks) ? doc.networks : {};
  const routingKey =
    Object.entries(networks).find(([key, n]) => (isPlainObject(n) && n.name !== undefined ? n.name : key) === ROUTING_NETWORK && isPlainObject(n) && n.external === true)?.[0] ??
    ROUTING_NETWORK;
  const jit = source.jitServices ?? [];
  const proxied = source.proxiedRoutes ?? [];
  if (proxied.length > 0 && !opts.domain) throw new Error(`stack ${source.name} proxies routes, but renderStack was given no domain (a bug in the platform)`);
  for (const [service, spec] of Object.entries(services)) {
    if (!isPlainObject(spec)) continue;
    const own = routes.filter((r) => r.service === service);
    const jitIndex = jit.indexOf(service);
    // A JIT service is reached through the helper only: its own routers would bypass the helper's
    // count of requests and open connections (and vanish while it sleeps).
    const labels = jitIndex >= 0 ? {} : Object.assign({}, ...own.map((r) => routeLabels(source.name, r, opts.domain!, routeId(source.name, r, routes).id)));
    const helperLabels = Object.assign({}, ...proxied.filter((r) => r.service === service).map((r) => routeLabels(source.name, r, opts.domain!, `${source.name}-${r.host}`)));
    const deploy = isPlainObject(spec.deploy) ? spec.deploy : {};
    spec.deploy = { ...deploy, labels: withLabels(deploy.labels, { ...labels, ...helperLabels, ...(jitIndex >= 0 ? { [JIT_LABEL]: "true" } : {}), ...ours }) };
    // The replicas the swarm has: `docker stack deploy` would otherwise reset them to the file's
    // (docker/cli#2235), waking a sleeping service or stopping one in use. stack.sh sets the variable.
    if (jitIndex >= 0) spec.deploy = { ...(spec.deploy as Record<string, unknown>), replicas: `\${${jitReplicasVariable(jitIndex)}:-0}` };
    if (own.length > 0 || proxied.some((r) => r.service === service)) spec.networks = withRoutingNetwork(spec.networks, routingKey);
  }
  if ((routes.length > 0 || proxied.length > 0) && !Object.hasOwn(networks, routingKey)) doc.networks = { ...networks, [routingKey]: { external: true } };
  const { version, ...rest } = doc;
  return stringifyCompose({ version: version ?? DEFAULT_VERSION, ...rest });
}
