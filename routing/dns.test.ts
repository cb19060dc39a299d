/**
 * AdGuard Home's rendered configuration. What this does not cover: that AdGuard Home answers by it
 * (the e2e suite asks the lab's DNS, a stand-in that reads the same file: lab/images/adguardhome).
 */
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "../compose/load";
import { DNS_ADMIN_USER, dnsRewrites, renderAdGuardConfig } from "./dns";
import { RoutedHost } from "./hosts";

const hosts: RoutedHost[] = [
  { host: "whoami.home.arpa", url: "https://whoami.home.arpa/", target: "whoami/whoami", lane: "internal" },
  { host: "dns.home.arpa", url: "https://dns.home.arpa/", target: "dns/adguard", lane: "internal" },
  { host: "traefik.home.arpa", url: "https://traefik.home.arpa/dashboard/", target: "traefik/dashboard", lane: "internal" },
];
const managers = ["192.168.99.101", "192.168.99.102", "192.168.99.103"];

test("every routed host resolves to every manager (exact names: AdGuard answers a wildcard with one address only)", () => {
  const rewrites = dnsRewrites(hosts, managers);
  expect(rewrites).toHaveLength(9);
  expect(rewrites.filter((r) => r.domain === "whoami.home.arpa").map((r) => r.answer)).toEqual(managers);
  expect(rewrites.every((r) => !r.domain.includes("*") && r.enabled)).toBe(true);
  expect(rewrites.map((r) => r.domain)).toEqual([...rewrites.map((r) => r.domain)].sort());
});

test("the file: upstreams from config, the admin's bcrypt hash, DNS on :53 and the web UI on :3000", () => {
  const conf = YAML.parse(renderAdGuardConfig({ upstreams: ["9.9.9.9", "tls://dns.quad9.net"], answers: managers }, hosts, "$2a$10$hash"));
  expect(conf.dns).toMatchObject({ bind_hosts: ["0.0.0.0"], port: 53, upstream_dns: ["9.9.9.9", "tls://dns.quad9.net"] });
  expect(conf.users).toEqual([{ name: DNS_ADMIN_USER, password: "$2a$10$hash" }]);
  expect(conf.http.address).toBe("0.0.0.0:3000");
  expect(conf.filtering.rewrites).toEqual(dnsRewrites(hosts, managers));
});

test("stacks/dns serves the rendered file from its secret, on every manager, and routes its web UI on the port the file names", () => {
  const stack = loadStack(path.join(__dirname, "..", "stacks", "dns"));
  const adguard = (stack.document as any).services.adguard;
  expect(stack.secrets).toEqual([{ key: "adguard_config", source: { kind: "platform", name: "adguard-config" } }]);
  expect(adguard.entrypoint.join(" ")).toContain("cp /run/secrets/adguard_config /opt/adguardhome/conf/AdGuardHome.yaml");
  expect(adguard.deploy.mode).toBe("global");
  expect(adguard.deploy.placement.constraints).toEqual(["node.role == manager"]);
  expect(adguard.ports.map((p: any) => `${p.published}/${p.protocol} ${p.mode}`)).toEqual(["53/udp host", "53/tcp host"]);
  const conf = YAML.parse(renderAdGuardConfig({ upstreams: ["9.9.9.9"], answers: managers }, hosts, "x"));
  expect(stack.routes).toEqual([{ service: "adguard", host: "dns", port: Number(conf.http.address.split(":")[1]), lane: "internal" }]);
});
