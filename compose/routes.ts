/**
 * Routes: a service says `x-homelab: { route: { host: whoami, port: 80 } }` and the platform writes
 * the Traefik labels, attaches the service to the routing network, gives it a DNS name and lists
 * its URL. One declaration instead of six hand-written labels per service, and the same data feeds
 * DNS and the outputs, so a new routed service needs no edit anywhere else.
 */
import { describe, isPlainObject, IssueList } from "../config/reader";
import { ROUTE_LANES, RouteLane, ServiceRoute } from "./types";

/** The overlay network Traefik reaches routed tasks on; the platform creates it (homelab:platform.networks). */
export const ROUTING_NETWORK = "traefik-public";
/** Entry points of the Traefik static config (routing/traefik.ts): the lanes. */
export const ENTRY_POINTS = { web: "web", internal: "websecure", public: "public" } as const;
/** Middlewares the platform defines in Traefik's file provider (routing/traefik.ts). */
export const MIDDLEWARES = { lanOnly: "lan-only", publicChain: "public-chain", dashboardAuth: "dashboard-auth" } as const;

/** A DNS label (RFC 1123), lower case: the host part of https://<host>.<domain>. */
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const ROUTE_EXAMPLE = `"x-homelab: { route: { host: whoami, port: 80 } }"`;

/**
 * Reads a service's `x-homelab.route` (one) or `x-homelab.routes` (a list, for a service that
 * answers on several ports, e.g. MinIO's API and console); every problem goes to `issues`.
 */
export function readRoutes(issues: IssueList, at: string, service: string, homelab: unknown): ServiceRoute[] {
  if (homelab === undefined || homelab === null) return [];
  if (!isPlainObject(homelab)) {
    issues.error(`${at}.x-homelab`, `expected a map, got ${describe(homelab)}. Fix: e.g. ${ROUTE_EXAMPLE}.`);
    return [];
  }
  for (const key of Object.keys(homelab).filter((k) => k !== "route" && k !== "routes")) {
    issues.error(`${at}.x-homelab.${key}`, `is not a setting homelab knows on a service. Fix: remove it; a service may have "route" (or "routes", a list).`);
  }
  if (homelab.route !== undefined && homelab.routes !== undefined) {
    issues.error(`${at}.x-homelab`, `has both "route" and "routes". Fix: keep one; "routes" is a list of routes.`);
    return [];
  }
  if (homelab.routes !== undefined) {
    if (!Array.isArray(homelab.routes) || homelab.routes.length === 0) {
      issues.error(`${at}.x-homelab.routes`, `expected a list of routes, got ${describe(homelab.routes)}. Fix: e.g. "routes: [{ host: s3, port: 9000 }, { host: minio, port: 9001 }]".`);
      return [];
    }
    return homelab.routes.flatMap((route, i) => readRoute(issues, `${at}.x-homelab.routes[${i}]`, service, route) ?? []);
  }
  return homelab.route === undefined ? [] : (readRoute(issues, `${at}.x-homelab.route`, service, homelab.route) ?? []).slice(0, 1);
}

function readRoute(issues: IssueList, rat: string, service: string, route: unknown): ServiceRoute[] | undefined {
  if (!isPlainObject(route)) {
    issues.error(rat, `expected a map, got ${describe(route)}. Fix: e.g. ${ROUTE_EXAMPLE}.`);
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(route).filter((k) => !["host", "port", "lane", "auth"].includes(k))) {
    issues.error(`${rat}.${key}`, `is not a route setting. Fix: remove it; a route has host, port, lane and auth.`);
    ok = false;
  }
  const auth = route.auth ?? false;
  if (typeof auth !== "boolean") {
    issues.error(`${rat}.auth`, `${describe(auth)} is not true or false. Fix: "auth: true" puts the platform's login (the Traefik dashboard's user and password) in front of a service that has none of its own.`);
    ok = false;
  }
  const host = route.host;
  if (typeof host !== "string" || !HOST_LABEL.test(host)) {
    issues.error(`${rat}.host`, `${describe(host)} is not one DNS label. Fix: lower-case letters, digits and "-", e.g. "host: ${service.toLowerCase().replace(/[^a-z0-9-]/g, "-")}" (the URL is https://<host>.<homelab:domain>).`);
    ok = false;
  }
  const port = route.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    issues.error(`${rat}.port`, `${describe(port)} is not a port. Fix: the port the service listens on inside its container, e.g. "port: 80".`);
    ok = false;
  }
  const lane = route.lane ?? "internal";
  if (typeof lane !== "string" || !(ROUTE_LANES as readonly string[]).includes(lane)) {
    issues.error(`${rat}.lane`, `${describe(lane)} is not a lane. Fix: "internal" (LAN and tailnet only, the default) or "public" (also on the public entry point).`);
    ok = false;
  }
  return ok ? [{ service, host: host as string, port: port as number, lane: lane as RouteLane, ...(auth ? { auth: true } : {}) }] : undefined;
}

/**
 * The name of a route's router and Traefik service, and its key in the `urls` output: the first
 * route of a service is `<stack>-<service>` (`<stack>/<service>`), a further one adds its host.
 */
export function routeId(stack: string, route: ServiceRoute, routes: readonly ServiceRoute[]): { id: string; target: string } {
  const first = routes.find((r) => r.service === route.service) === route;
  return first
    ? { id: `${stack}-${route.service}`.toLowerCase(), target: `${stack}/${route.service}` }
    : { id: `${stack}-${route.service}-${route.host}`.toLowerCase(), target: `${stack}/${route.service}@${route.host}` };
}

/** The fully qualified host name of a route. */
export function routeHost(route: Pick<ServiceRoute, "host">, domain: string): string {
  return `${route.host}.${domain}`;
}

/**
 * The Traefik labels of one routed service (Swarm provider, v3 names). The internal router only
 * answers the LAN and tailnet ranges; a public route gets a second router on the public entry point
 * with the public middleware chain instead. No `lbswarm`: Traefik reaches the tasks' own
 * addresses, which also works where Swarm VIPs do not (the lab).
 */
export function routeLabels(stack: string, route: ServiceRoute, domain: string, id = `${stack}-${route.service}`.toLowerCase()): Record<string, string> {
  const rule = `Host(\`${routeHost(route, domain)}\`)`;
  // The lane's filter first: a source outside the LAN is refused before it is asked for a password.
  const auth = route.auth ? [MIDDLEWARES.dashboardAuth] : [];
  const router = (name: string, entryPoint: string, middleware: string): Record<string, string> => ({
    [`traefik.http.routers.${name}.rule`]: rule,
    [`traefik.http.routers.${name}.entrypoints`]: entryPoint,
    [`traefik.http.routers.${name}.tls`]: "true",
    [`traefik.http.routers.${name}.middlewares`]: [middleware, ...auth].map((m) => `${m}@file`).join(","),
    [`traefik.http.routers.${name}.service`]: id,
  });
  return {
    "traefik.enable": "true",
    ...router(id, ENTRY_POINTS.internal, MIDDLEWARES.lanOnly),
    ...(route.lane === "public" ? router(`${id}-public`, ENTRY_POINTS.public, MIDDLEWARES.publicChain) : {}),
    [`traefik.http.services.${id}.loadbalancer.server.port`]: String(route.port),
  };
}

/**
 * A service's `networks:` with the routing network (declared under `key` at top level) added, as a
 * list or map as written; a service that named none was on its stack's `default` network and stays on it.
 */
export function withRoutingNetwork(networks: unknown, key: string = ROUTING_NETWORK): unknown {
  if (isPlainObject(networks)) return key in networks ? networks : { ...networks, [key]: null };
  if (Array.isArray(networks)) return networks.includes(key) ? networks : [...networks, key];
  return ["default", key];
}
