/**
 * Just-in-time services, the platform's side (the helper itself is services/jit/jit.js). Traefik
 * routes every JIT host to the helper, never to the app: a sleeping service has no task, and
 * Traefik drops the router of a service with none (the reason Sablier cannot hold requests on
 * Swarm); going through the helper also lets it count every request and open connection. So the
 * app keeps its route for DNS and the `urls` output but gets no Traefik labels, and the helper's
 * service gets a router per JIT host instead. Pure: the components only wire what this returns.
 */
import { DOCKER_PATH, renderSocketFilter } from "./socketFilter";
import { BudgetNode, RESERVABLE_SHARE, constraintAllows, reservationsByNode } from "./budget";
import { routeHost } from "./routes";
import { ServiceRoute, StackSource } from "./types";

/** The platform's own stack that runs the helper (stacks/jit), and its service. */
export const JIT_STACK = "jit";
export const JIT_SERVICE = "jit";
/** Where the helper listens for proxied requests and for its metrics. */
export const JIT_PORT = 8080;
export const JIT_METRICS_PORT = 9101;
/** The helper's own API host: https://jit.<domain>/api/status with the token. */
export const JIT_API_HOST = "jit";

/** What the platform knows of one JIT service, for the helper's configuration. */
export interface JitTarget {
  /** `<stack>/<service>` (the homelab:platform.jit key). */
  readonly name: string;
  readonly swarmService: string;
  /** Fully qualified hosts and the port each reaches inside the task. */
  readonly routes: readonly { readonly host: string; readonly port: number }[];
  readonly replicas: number;
  readonly idleSeconds: number;
  readonly reservationBytes: number;
  /** The one node it is pinned to (its data is there; its memory is counted there). */
  readonly node: string;
}

export interface JitProblem {
  readonly key: string;
  readonly message: string;
}

interface Deploy {
  replicas?: unknown;
  mode?: unknown;
  placement?: { constraints?: unknown };
}

const deployOf = (stack: StackSource, service: string): Deploy =>
  ((stack.document.services as Record<string, { deploy?: Deploy }> | undefined)?.[service]?.deploy ?? {}) as Deploy;

/**
 * The JIT services of `stacks` with what the helper needs, or the problems that stop the run: a
 * JIT service must be replicated, routed (the helper is reached by its host) and pinned to exactly
 * one node (memory-aware waking must know whose RAM it takes). Entries whose stack is not
 * deployed are left out (homelab:platform.jit lists the seed's apps by default).
 */
export function jitTargets(
  stacks: readonly StackSource[],
  jit: readonly { readonly service: string; readonly idle: string }[],
  nodes: readonly BudgetNode[],
  domain: string,
  idleSeconds: (idle: string) => number,
): { targets: JitTarget[]; problems: JitProblem[] } {
  const targets: JitTarget[] = [];
  const problems: JitProblem[] = [];
  for (const entry of jit) {
    const [stackName, service] = entry.service.split("/");
    const stack = stacks.find((s) => s.name === stackName);
    if (!stack || !stack.services.includes(service)) continue;
    const key = `homelab:platform.jit.${entry.service}`;
    const deploy = deployOf(stack, service);
    const routes = (stack.routes ?? []).filter((r) => r.service === service);
    const constraints = Array.isArray(deploy.placement?.constraints) ? (deploy.placement!.constraints as unknown[]).map(String) : [];
    const eligible = nodes.filter((n) => constraints.every((c) => constraintAllows(c, n)));
    if (deploy.mode === "global") {
      problems.push({ key, message: `stacks/${stackName}: ${service} is global; only a replicated service can sleep at zero replicas. Fix: remove it from homelab:platform.jit (pulumi config set --path 'homelab:platform.jit.${entry.service}' false).` });
      continue;
    }
    if (routes.length === 0) {
      problems.push({ key, message: `stacks/${stackName}: ${service} has no x-homelab.route, so no request could wake it. Fix: give it a route, or set homelab:platform.jit.${entry.service} to false.` });
      continue;
    }
    if (eligible.length !== 1) {
      problems.push({
        key,
        message: `stacks/${stackName}: ${service} may run on ${eligible.length === 0 ? "no node" : `${eligible.length} nodes (${eligible.map((n) => n.name).join(", ")})`}; a just-in-time service is woken on the one node whose memory it takes. Fix: pin it with a node label exactly one node carries, e.g. node.labels.${stackName} == true.`,
      });
      continue;
    }
    const replicas = typeof deploy.replicas === "number" && deploy.replicas > 0 ? deploy.replicas : 1;
    targets.push({
      name: entry.service,
      swarmService: `${stackName}_${service}`,
      routes: routes.map((r) => ({ host: routeHost(r, domain), port: r.port })),
      replicas,
      idleSeconds: idleSeconds(entry.idle),
      reservationBytes: replicas * (stack.memory?.[service]?.reservation ?? 0),
      node: eligible[0].name,
    });
  }
  return { targets, problems };
}

/**
 * Per node, the memory JIT services may reserve when awake: 75% of its RAM less what the always-on
 * services reserve there (the JIT services themselves counted as asleep).
 */
export function jitBudgets(nodes: readonly BudgetNode[], stacks: readonly StackSource[], asleep: ReadonlySet<string>): { name: string; jitBudgetBytes: number }[] {
  return reservationsByNode(nodes, stacks, asleep).map((r) => ({ name: r.node, jitBudgetBytes: Math.max(0, Math.floor(RESERVABLE_SHARE * r.totalBytes - r.reservedBytes)) }));
}

/** The helper's configuration file (services/jit/jit.js reads it); no secret in it (the token is a Swarm secret). */
export function renderJitConfig(targets: readonly JitTarget[], budgets: readonly { name: string; jitBudgetBytes: number }[], domain: string): string {
  const config = {
    listen: JIT_PORT,
    metricsListen: JIT_METRICS_PORT,
    dockerApi: "http://socket-proxy:2375",
    apiHost: `${JIT_API_HOST}.${domain}`,
    tokenFile: "/run/secrets/jit_token",
    holdSeconds: 30,
    readySeconds: 180,
    checkSeconds: 10,
    services: targets.map((t) => ({
      name: t.name,
      swarmService: t.swarmService,
      routes: t.routes,
      replicas: t.replicas,
      idleSeconds: t.idleSeconds,
      reservationBytes: t.reservationBytes,
      node: t.node,
      probePath: "/",
    })),
    nodes: budgets.filter((b) => targets.some((t) => t.node === b.name)),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * The helper's Docker API filter (haproxy, like Traefik's socket-proxy): it may read the JIT
 * services and their tasks and update exactly those services (the helper changes only their
 * replicas); every other call, and every other service, is refused with 403.
 */
export function renderJitSocketFilter(swarmServices: readonly string[]): string {
  const names = swarmServices.length > 0 ? swarmServices.map((s) => s.replace(/[^A-Za-z0-9_-]/g, "")).join("|") : "homelab-no-jit-service";
  return renderSocketFilter({
    header: "Rendered by the platform (compose/jit.ts): the Docker API as the JIT helper may use it.",
    timeoutSeconds: 30,
    acls: [
      "read method GET HEAD",
      "update method POST",
      `jit_service path_reg ${DOCKER_PATH}/services/(${names})$`,
      `jit_update path_reg ${DOCKER_PATH}/services/(${names})/update$`,
      `task_list path_reg ${DOCKER_PATH}/tasks$`,
    ],
    allow: ["read negotiation", "read jit_service", "read task_list", "update jit_update"],
  });
}

/** The helper's routers: each JIT host, to the helper's port, on the lanes (and with the login) the app's route asked for. */
export function proxiedRoutes(stacks: readonly StackSource[], targets: readonly JitTarget[]): ServiceRoute[] {
  return targets.flatMap((t) => {
    const [stackName, service] = t.name.split("/");
    const stack = stacks.find((s) => s.name === stackName)!;
    return (stack.routes ?? []).filter((r) => r.service === service).map((r) => ({ ...r, service: JIT_SERVICE, port: JIT_PORT }));
  });
}
