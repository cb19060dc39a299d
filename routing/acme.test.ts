/**
 * The ACME option: the static configuration's resolver, the traefik stack's credentials as secret
 * files, and the checks on the config. What this does not cover: a real ACME CA and DNS provider
 * (nothing here can reach one; the lab serves the homelab CA's certificate).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "../compose/load";
import { renderStack } from "../compose/render";
import { ConfigError } from "../config/reader";
import { DEFAULT_MONITORING, DEFAULT_NETWORKS, DEFAULTS } from "../config/schema";
import { loadStacks } from "../config/stacks";
import { validateConfig } from "../config/validate";
import { ACME_STORAGE, withAcme } from "./acme";
import { traefikSettings } from "./hosts";
import { renderTraefikStatic } from "./traefik";

const acme = { email: "owner@example.org", dnsProvider: "cloudflare", credentials: { CF_DNS_API_TOKEN: "cloudflareToken" } };
const config = {
  domain: "lab.example.org",
  network: { subnet: "192.168.99.0/24", gateway: "192.168.99.1", dns: [], interfaceMatch: "en*", ntp: [] },
  platform: { networks: DEFAULT_NETWORKS, stacks: ["traefik"], traefik: { internalRanges: [], publicLane: false, dashboardHost: DEFAULTS.dashboardHost, acme }, dns: { upstreams: ["9.9.9.9"] }, monitoring: DEFAULT_MONITORING, jit: [], backup: false as const, gitops: false as const },
  nodes: [],
};
const STACKS = path.join(__dirname, "..", "stacks");

test("the static configuration asks the resolver for one wildcard certificate by DNS challenge, checked on public resolvers", () => {
  const conf = YAML.parse(renderTraefikStatic(traefikSettings(config)));
  expect(conf.certificatesResolvers.acme.acme).toEqual({
    email: "owner@example.org",
    storage: ACME_STORAGE,
    dnsChallenge: { provider: "cloudflare", resolvers: ["9.9.9.9:53", "149.112.112.112:53"] },
  });
  expect(conf.entryPoints.websecure.http.tls).toEqual({ certResolver: "acme", domains: [{ main: "lab.example.org", sans: ["*.lab.example.org"] }] });
  const without = YAML.parse(renderTraefikStatic(traefikSettings({ ...config, platform: { ...config.platform, traefik: { ...config.platform.traefik, acme: undefined } } })));
  expect(without.certificatesResolvers).toBeUndefined();
});

test("the credentials reach Traefik as *_FILE variables from Swarm secrets made from config secrets; acme.json is on a volume", () => {
  const stack = withAcme(loadStack(path.join(STACKS, "traefik")), acme);
  expect(stack.secrets).toContainEqual({ key: "acme_cf_dns_api_token", source: { kind: "config", key: "cloudflareToken" } });
  const names = { secrets: Object.fromEntries(stack.secrets.map((s) => [s.key, `traefik_${s.key}-00000000`])), configs: Object.fromEntries(stack.configs.map((c) => [c.key, `traefik_${c.key}-00000000`])) };
  const out = YAML.parse(renderStack(stack, names, { domain: "lab.example.org" }));
  const traefik = out.services.traefik;
  expect(traefik.environment).toEqual(["CF_DNS_API_TOKEN_FILE=/run/secrets/acme_cf_dns_api_token"]);
  expect(traefik.secrets).toContain("acme_cf_dns_api_token");
  expect(traefik.volumes).toEqual(["acme:/acme"]);
  expect(out.volumes).toEqual({ acme: {} });
  expect(out.secrets.acme_cf_dns_api_token).toEqual({ external: true, name: "traefik_acme_cf_dns_api_token-00000000" });
});

test("loadStacks adds them to the traefik stack, and an unset credential is an error with the command that fixes it", () => {
  const found = loadStacks(config, STACKS, () => true).find((s) => s.name === "traefik")!;
  expect(found.secrets.map((s) => s.key)).toContain("acme_cf_dns_api_token");
  let error: unknown;
  try {
    loadStacks(config, STACKS, () => false);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).issues.map((i) => `${i.key}: ${i.message}`)).toEqual([
    expect.stringMatching(/^homelab:platform\.traefik\.acme\.credentials\.CF_DNS_API_TOKEN: needs homelab:cloudflareToken, which is not set\. Fix: pulumi config set --secret homelab:cloudflareToken <value>/),
  ]);
});

test.each([
  [{ email: "nope", dnsProvider: "cloudflare" }, "homelab:platform.traefik.acme.email"],
  [{ email: "a@b.org" }, "homelab:platform.traefik.acme.dnsProvider"],
  [{ email: "a@b.org", dnsProvider: "cloudflare", credentials: { CF_DNS_API_TOKEN_FILE: "x" } }, "homelab:platform.traefik.acme.credentials.CF_DNS_API_TOKEN_FILE"],
  [{ email: "a@b.org", dnsProvider: "cloudflare", credentials: { CF_DNS_API_TOKEN: "the-token-itself" } }, "homelab:platform.traefik.acme.credentials.CF_DNS_API_TOKEN"],
  [{ email: "a@b.org", dnsProvider: "cloudflare", caServer: "http://insecure" }, "homelab:platform.traefik.acme.caServer"],
])("bad ACME config %j is refused at %s", (bad, key) => {
  const raw = { nodes: [{ name: "pi", role: "manager", address: "10.0.0.2" }], network: { subnet: "10.0.0.0/24", gateway: "10.0.0.1" }, platform: { traefik: { acme: bad } } };
  let error: unknown;
  try {
    validateConfig(raw);
  } catch (e) {
    error = e;
  }
  expect((error as ConfigError).issues.map((i) => i.key)).toEqual([key]);
  expect((error as ConfigError).issues[0].message).toMatch(/Fix: /);
});

test("the docker CLI's own loader accepts the traefik stack with ACME", () => {
  const { spawnSync } = require("child_process") as typeof import("child_process");
  const stack = withAcme(loadStack(path.join(STACKS, "traefik")), acme);
  const names = { secrets: Object.fromEntries(stack.secrets.map((s) => [s.key, `traefik_${s.key}-00000000`])), configs: Object.fromEntries(stack.configs.map((c) => [c.key, `traefik_${c.key}-00000000`])) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "acme-"));
  try {
    fs.writeFileSync(path.join(dir, "traefik.yml"), renderStack(stack, names, { domain: "lab.example.org" }));
    const run = spawnSync("docker", ["stack", "deploy", "-c", path.join(dir, "traefik.yml"), "traefik"], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: `unix://${path.join(dir, "none.sock")}`, DOCKER_CONTEXT: "" } });
    expect(`${run.stdout}${run.stderr}`).toMatch(/Cannot connect to the Docker daemon/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
