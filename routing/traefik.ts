/**
 * Traefik's static and dynamic configuration, rendered from the homelab config (pure). They reach
 * the traefik stack as Swarm configs (`x-homelab: { platform: traefik-static }`), so the compose
 * file stays a plain file and what only the config knows (the domain, the LAN, the lanes) is
 * written once, here.
 */
import { ENTRY_POINTS, MIDDLEWARES, ROUTING_NETWORK } from "../compose/routes";
import { AcmeConfig } from "../config/schema";
import { ACME_RESOLVER, ACME_STORAGE } from "./acme";
import { stringifyCompose } from "../compose/yaml";

/** Where the traefik stack mounts what these files name (stacks/traefik/compose.yml; a test keeps them in step). */
export const TRAEFIK_PATHS = {
  static: "/etc/traefik/traefik.yml",
  dynamic: "/etc/traefik/dynamic.yml",
  certificate: "/run/secrets/tls_certificate",
  key: "/run/secrets/tls_key",
  dashboardUsers: "/run/secrets/dashboard_users",
} as const;

/** The Docker API filter of the traefik stack (stacks/traefik/haproxy.cfg): the only Docker API Traefik gets. */
export const DOCKER_API_ENDPOINT = "tcp://socket-proxy:2375";

/**
 * The public lane's port on the managers (stacks/traefik publishes it): the home router forwards its
 * 443 here, so nothing from the internet reaches the internal lane's 443.
 */
export const PUBLIC_LANE_PORT = 8443;

/** Tailscale's address ranges (CGNAT IPv4 and its IPv6 ULA): the tailnet is part of the internal lane. */
export const TAILNET_RANGES = ["100.64.0.0/10", "fd7a:115c:a1e0::/48"] as const;

export interface TraefikSettings {
  readonly domain: string;
  /** Who may use the internal lane: the LAN subnet, the tailnet and any extra ranges from config. */
  readonly internalRanges: readonly string[];
  /** Whether the public lane's entry point listens (on PUBLIC_LANE_PORT, which the stack publishes). */
  readonly publicLane: boolean;
  /** The dashboard's host: https://<dashboardHost>.<domain>. */
  readonly dashboardHost: string;
  /** A real domain's wildcard certificate by ACME DNS challenge (routing/acme.ts); absent: the homelab CA's. */
  readonly acme?: AcmeConfig;
}

/** Public resolvers that check the challenge's TXT record: the homelab's own DNS rewrites the domain. */
const ACME_CHECK_RESOLVERS = ["9.9.9.9:53", "149.112.112.112:53"];

const HEADER = "# Rendered by homelab (routing/traefik.ts) from the stack config: change the config, not this file.\n";

/**
 * The static configuration: entry points (HTTP redirects to HTTPS; HTTPS for the internal lane;
 * the public lane if configured), the Swarm provider through the Docker API filter with a
 * short refresh, the file provider for what the platform defines, the dashboard (never
 * `api.insecure`), ping for the health check and Prometheus metrics.
 */
export function renderTraefikStatic(settings: TraefikSettings): string {
  // With ACME, one wildcard certificate for the domain from the resolver; the homelab CA's stays the default.
  const tls = settings.acme
    ? { http: { tls: { certResolver: ACME_RESOLVER, domains: [{ main: settings.domain, sans: [`*.${settings.domain}`] }] } } }
    : { http: { tls: {} } };
  const acme = settings.acme;
  return (
    HEADER +
    stringifyCompose({
      global: { checkNewVersion: false, sendAnonymousUsage: false },
      log: { level: "INFO" },
      api: { dashboard: true },
      ping: { entryPoint: "ping" },
      metrics: { prometheus: { entryPoint: "metrics", addServicesLabels: true } },
      entryPoints: {
        [ENTRY_POINTS.web]: { address: ":80", http: { redirections: { entryPoint: { to: ENTRY_POINTS.internal, scheme: "https", permanent: true } } } },
        [ENTRY_POINTS.internal]: { address: ":443", ...tls },
        ...(settings.publicLane ? { [ENTRY_POINTS.public]: { address: `:${PUBLIC_LANE_PORT}`, ...tls } } : {}),
        ping: { address: ":8082" },
        metrics: { address: ":8083" },
      },
      providers: {
        // Tasks' own addresses (no lbswarm): services are reached even where Swarm VIPs are not.
        swarm: { endpoint: DOCKER_API_ENDPOINT, exposedByDefault: false, network: ROUTING_NETWORK, refreshSeconds: 5, watch: true },
        file: { filename: TRAEFIK_PATHS.dynamic, watch: false },
      },
      ...(acme
        ? {
            certificatesResolvers: {
              [ACME_RESOLVER]: {
                acme: {
                  email: acme.email,
                  storage: ACME_STORAGE,
                  ...(acme.caServer ? { caServer: acme.caServer } : {}),
                  dnsChallenge: { provider: acme.dnsProvider, resolvers: ACME_CHECK_RESOLVERS },
                },
              },
            },
          }
        : {}),
    })
  );
}

/**
 * The dynamic configuration the platform owns: the lanes' middlewares, the dashboard's router
 * (behind the internal lane and basic auth from a Swarm secret), and the wildcard certificate as
 * the default one.
 */
export function renderTraefikDynamic(settings: TraefikSettings): string {
  return (
    HEADER +
    stringifyCompose({
      http: {
        middlewares: {
          [MIDDLEWARES.lanOnly]: { ipAllowList: { sourceRange: [...settings.internalRanges] } },
          [MIDDLEWARES.publicChain]: { chain: { middlewares: ["public-headers", "public-rate-limit"] } },
          "public-headers": {
            headers: { stsSeconds: 31536000, stsIncludeSubdomains: true, contentTypeNosniff: true, frameDeny: true, referrerPolicy: "same-origin" },
          },
          "public-rate-limit": { rateLimit: { average: 50, burst: 100 } },
          [MIDDLEWARES.dashboardAuth]: { basicAuth: { usersFile: TRAEFIK_PATHS.dashboardUsers, realm: "homelab", removeHeader: true } },
        },
        routers: {
          dashboard: {
            rule: `Host(\`${settings.dashboardHost}.${settings.domain}\`)`,
            entryPoints: [ENTRY_POINTS.internal],
            service: "api@internal",
            middlewares: [MIDDLEWARES.lanOnly, MIDDLEWARES.dashboardAuth],
            tls: {},
          },
        },
      },
      tls: {
        options: { default: { minVersion: "VersionTLS12" } },
        stores: { default: { defaultCertificate: { certFile: TRAEFIK_PATHS.certificate, keyFile: TRAEFIK_PATHS.key } } },
      },
    })
  );
}
