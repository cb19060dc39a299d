/**
 * Traefik's rendered configuration, and that stacks/traefik/compose.yml mounts what it names. What
 * this does not cover: that Traefik accepts the files and routes by them (the e2e suite runs the
 * stack on the lab with Traefik built from source).
 */
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "../compose/load";
import { ROUTING_NETWORK } from "../compose/routes";
import { DEFAULT_MONITORING, DEFAULT_NETWORKS, DEFAULTS } from "../config/schema";
import { routedHosts, traefikSettings } from "./hosts";
import { DOCKER_API_ENDPOINT, PUBLIC_LANE_PORT, TRAEFIK_PATHS, renderTraefikDynamic, renderTraefikStatic } from "./traefik";

const config = (traefik: Partial<{ internalRanges: string[]; publicLane: boolean; dashboardHost: string }> = {}) => ({
  domain: "home.arpa",
  network: { subnet: "192.168.99.0/24", gateway: "192.168.99.1", dns: [], interfaceMatch: "en*", ntp: [] },
  platform: { networks: DEFAULT_NETWORKS, stacks: ["traefik"], traefik: { internalRanges: [], publicLane: false, dashboardHost: DEFAULTS.dashboardHost, ...traefik }, dns: { upstreams: ["9.9.9.9"] }, monitoring: DEFAULT_MONITORING, jit: [], backup: false as const, gitops: false as const },
});

const staticOf = (c = config()) => YAML.parse(renderTraefikStatic(traefikSettings(c)));
const dynamicOf = (c = config()) => YAML.parse(renderTraefikDynamic(traefikSettings(c)));

describe("Traefik's static configuration", () => {
  test("HTTP redirects permanently to HTTPS; the internal lane is HTTPS on 443; no public lane unless asked", () => {
    const conf = staticOf();
    expect(conf.entryPoints.web).toEqual({ address: ":80", http: { redirections: { entryPoint: { to: "websecure", scheme: "https", permanent: true } } } });
    expect(conf.entryPoints.websecure).toEqual({ address: ":443", http: { tls: {} } });
    expect(conf.entryPoints.public).toBeUndefined();
    expect(staticOf(config({ publicLane: true })).entryPoints.public).toEqual({ address: `:${PUBLIC_LANE_PORT}`, http: { tls: {} } });
  });

  test("the Swarm provider polls the Docker API filter every 5 s, exposes nothing by default, and reaches tasks on the routing network", () => {
    expect(staticOf().providers.swarm).toEqual({ endpoint: DOCKER_API_ENDPOINT, exposedByDefault: false, network: ROUTING_NETWORK, refreshSeconds: 5, watch: true });
    expect(staticOf().providers.file.filename).toBe(TRAEFIK_PATHS.dynamic);
  });

  test("the dashboard is on, but never insecure (it is only reachable through its router, behind auth)", () => {
    const conf = staticOf();
    expect(conf.api).toEqual({ dashboard: true });
    expect(JSON.stringify(conf)).not.toMatch(/insecure/i);
  });
});

describe("Traefik's dynamic configuration", () => {
  test("the internal lane admits the LAN, the tailnet and the configured extra ranges only", () => {
    expect(dynamicOf(config({ internalRanges: ["10.20.0.0/16"] })).http.middlewares["lan-only"]).toEqual({
      ipAllowList: { sourceRange: ["192.168.99.0/24", "100.64.0.0/10", "fd7a:115c:a1e0::/48", "10.20.0.0/16"] },
    });
  });

  test("the dashboard answers on its host, internal lane only, behind basic auth from the Swarm secret", () => {
    const conf = dynamicOf(config({ dashboardHost: "proxy" }));
    expect(conf.http.routers.dashboard).toEqual({
      rule: "Host(`proxy.home.arpa`)",
      entryPoints: ["websecure"],
      service: "api@internal",
      middlewares: ["lan-only", "dashboard-auth"],
      tls: {},
    });
    expect(conf.http.middlewares["dashboard-auth"].basicAuth.usersFile).toBe(TRAEFIK_PATHS.dashboardUsers);
  });

  test("the wildcard certificate is the default one; TLS 1.2 at least", () => {
    const conf = dynamicOf();
    expect(conf.tls.stores.default.defaultCertificate).toEqual({ certFile: TRAEFIK_PATHS.certificate, keyFile: TRAEFIK_PATHS.key });
    expect(conf.tls.options.default.minVersion).toBe("VersionTLS12");
  });
});

describe("stacks/traefik/compose.yml", () => {
  const stack = loadStack(path.join(__dirname, "..", "stacks", "traefik"));
  const doc = stack.document as any;

  test("mounts the rendered files and the platform's secrets where the configuration names them", () => {
    expect(stack.configs.filter((c) => c.platform).map((c) => [c.key, c.platform])).toEqual([
      ["traefik_static", "traefik-static"],
      ["traefik_dynamic", "traefik-dynamic"],
    ]);
    const targets = Object.fromEntries(doc.services.traefik.configs.map((c: any) => [c.source, c.target]));
    expect(targets).toEqual({ traefik_static: TRAEFIK_PATHS.static, traefik_dynamic: TRAEFIK_PATHS.dynamic });
    expect(stack.secrets.map((s) => [s.key, s.source])).toEqual([
      ["tls_certificate", { kind: "platform", name: "tls-certificate" }],
      ["tls_key", { kind: "platform", name: "tls-key" }],
      ["dashboard_users", { kind: "platform", name: "traefik-dashboard-users" }],
    ]);
    // Secrets listed by name land in /run/secrets/<name>, where the dynamic configuration reads them.
    expect(doc.services.traefik.secrets.map((s: string) => `/run/secrets/${s}`)).toEqual([TRAEFIK_PATHS.certificate, TRAEFIK_PATHS.key, TRAEFIK_PATHS.dashboardUsers]);
  });

  test("Traefik runs on every manager with host-mode ports 80, 443 and the public lane's; it has no Docker socket", () => {
    const traefik = doc.services.traefik;
    expect(traefik.deploy.mode).toBe("global");
    expect(traefik.deploy.placement.constraints).toEqual(["node.role == manager"]);
    expect(traefik.ports.map((p: any) => [p.published, p.mode])).toEqual([
      [80, "host"],
      [443, "host"],
      [PUBLIC_LANE_PORT, "host"],
    ]);
    expect(JSON.stringify(traefik)).not.toContain("docker.sock");
  });

  test("only the socket proxy holds the socket, read-only, on an internal network no other stack can join, by task address", () => {
    const proxy = doc.services["socket-proxy"];
    expect(proxy.volumes).toEqual([{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", read_only: true }]);
    expect(proxy.networks).toEqual(["docker-api"]);
    expect(proxy.ports).toBeUndefined();
    expect(proxy.deploy.endpoint_mode).toBe("dnsrr");
    expect(doc.networks["docker-api"]).toEqual({ driver: "overlay", internal: true });
    expect(DOCKER_API_ENDPOINT).toBe(`tcp://socket-proxy:2375`);
    const haproxy = stack.configs.find((c) => c.key === "haproxy_cfg")!.content;
    expect(haproxy).toMatch(/^\s*bind :2375$/m);
    expect(haproxy).toMatch(/^\s*http-request deny deny_status 403 unless read_only provider_call$/m);
  });

  test("the default config routes the dashboard at traefik.<domain>", () => {
    expect(routedHosts(config(), [stack])).toEqual([{ host: "traefik.home.arpa", url: "https://traefik.home.arpa/dashboard/", target: "traefik/dashboard", lane: "internal" }]);
  });
});
