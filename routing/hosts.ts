/**
 * Every host Traefik answers for, from the stacks' routes and the platform's own (the dashboard):
 * the one list the URL outputs and DNS are made from, so a new routed service needs no other edit.
 */
import { routeHost, routeId } from "../compose/routes";
import { RouteLane, StackSource } from "../compose/types";
import { HomelabConfig } from "../config/schema";
import { TAILNET_RANGES, TraefikSettings } from "./traefik";

export interface RoutedHost {
  /** Fully qualified, e.g. whoami.home.arpa. */
  readonly host: string;
  readonly url: string;
  /** `<stack>/<service>` (`<stack>/<service>@<host>` for a service's further routes), or `traefik/dashboard` for the platform's own. */
  readonly target: string;
  readonly lane: RouteLane;
}

export type RoutingConfig = Pick<HomelabConfig, "domain" | "network" | "platform">;

/** What routing/traefik.ts renders from the config. */
export function traefikSettings(config: RoutingConfig): TraefikSettings {
  return {
    domain: config.domain,
    internalRanges: [config.network.subnet, ...TAILNET_RANGES, ...config.platform.traefik.internalRanges],
    publicLane: config.platform.traefik.publicLane,
    dashboardHost: config.platform.traefik.dashboardHost,
    ...(config.platform.traefik.acme ? { acme: config.platform.traefik.acme } : {}),
  };
}

/** The routed hosts of `stacks` (and the dashboard when the traefik stack is one of them), sorted by host. */
export function routedHosts(config: RoutingConfig, stacks: readonly StackSource[]): RoutedHost[] {
  const hosts: RoutedHost[] = stacks.flatMap((stack) =>
    (stack.routes ?? []).map((r) => {
      const host = routeHost(r, config.domain);
      return { host, url: `https://${host}/`, target: routeId(stack.name, r, stack.routes ?? []).target, lane: r.lane };
    }),
  );
  if (stacks.some((s) => s.name === "traefik")) {
    const host = `${config.platform.traefik.dashboardHost}.${config.domain}`;
    hosts.push({ host, url: `https://${host}/dashboard/`, target: "traefik/dashboard", lane: "internal" });
  }
  return hosts.sort((a, b) => a.host.localeCompare(b.host));
}
