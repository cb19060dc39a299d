/**
 * The app stacks of stacks/ (the seed's apps, section 1.5 of the seed research) against what the
 * stack contract and the seed's bugs ask of them: the images the lab has, sign-ups off, no secret
 * in `environment:` (every credential a Swarm secret read through a file), every stateful service
 * pinned to the node label named after its stack, and the routes' hosts. The loader's own checks
 * (memory, refused keys, interpolation) run too, since every stack is loaded through it.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "./load";
import { SecretSource, StackSource } from "./types";

const STACKS = path.resolve(__dirname, "..", "stacks");

interface App {
  readonly name: string;
  /** Every service and its image: exactly the tags the lab holds. */
  readonly images: Readonly<Record<string, string>>;
  /** Routed hosts (https://<host>.<domain>) and the service each reaches. */
  readonly routes: Readonly<Record<string, string>>;
  /** Per service, the variables that keep sign-up, registration or the installer shut, with their values. */
  readonly closed: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The top-level secrets and where their values come from. */
  readonly secrets: Readonly<Record<string, SecretSource>>;
}

const generated = (length: number): SecretSource => ({ kind: "random", length });

const APPS: readonly App[] = [
  {
    name: "vaultwarden",
    images: { vaultwarden: "vaultwarden/server:1.32.7" },
    routes: { vault: "vaultwarden" },
    closed: { vaultwarden: { SIGNUPS_ALLOWED: "false", INVITATIONS_ALLOWED: "false" } },
    secrets: { admin_token: generated(32) },
  },
  {
    name: "forgejo",
    images: { forgejo: "codeberg.org/forgejo/forgejo:9.0.3" },
    routes: { git: "forgejo" },
    closed: {
      forgejo: {
        FORGEJO__security__INSTALL_LOCK: "true",
        FORGEJO__service__DISABLE_REGISTRATION: "true",
        FORGEJO__service__REQUIRE_SIGNIN_VIEW: "true",
      },
    },
    secrets: { secret_key: generated(64) },
  },
  {
    name: "mealie",
    images: { mealie: "ghcr.io/mealie-recipes/mealie:v2.4.2" },
    routes: { recipes: "mealie" },
    closed: { mealie: { ALLOW_SIGNUP: "false" } },
    secrets: { admin_password: generated(32) },
  },
  {
    name: "minio",
    images: { minio: "minio/minio:RELEASE.2024-12-18T13-15-44Z" },
    routes: { s3: "minio", minio: "minio" },
    closed: {},
    secrets: { root_user: generated(20), root_password: generated(40) },
  },
  {
    name: "homeassistant",
    images: { homeassistant: "ghcr.io/home-assistant/home-assistant:2024.12.5" },
    routes: { ha: "homeassistant" },
    closed: {},
    secrets: {},
  },
  {
    name: "tailscale",
    images: { tailscale: "tailscale/tailscale:v1.78.1" },
    routes: {},
    closed: {},
    secrets: { authkey: { kind: "config", key: "tailscaleAuthKey" } },
  },
];

type Service = Record<string, any>;

const loaded = new Map<string, StackSource>();
function load(name: string): StackSource {
  if (!loaded.has(name)) loaded.set(name, loadStack(path.join(STACKS, name)));
  return loaded.get(name)!;
}

function services(source: StackSource): [string, Service][] {
  return Object.entries(source.document.services as Record<string, Service>);
}

/** A service's environment as name → value, from the map or the `NAME=value` list form. */
function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((item: string) => [item.split("=")[0], item.split("=").slice(1).join("=")]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? "")]));
}

/** The keys of the secrets a service mounts (short or long syntax). */
function mountedSecrets(service: Service): string[] {
  return (service.secrets ?? []).map((s: string | { source: string }) => (typeof s === "string" ? s : s.source));
}

/** What reads like a credential written out: a name the loader treats as secret, or a long random-looking word (a path is none). */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|KEY$/i;
const TOKEN_LIKE = /^[A-Za-z0-9+=_-]{24,}$/;

describe.each(APPS)("stacks/$name", (app) => {
  test("loads, and runs exactly the pinned images the lab has", () => {
    expect(Object.fromEntries(services(load(app.name)).map(([name, s]) => [name, s.image]))).toEqual(app.images);
  });

  test("routes the listed hosts, on the internal lane", () => {
    const routes = load(app.name).routes ?? [];
    expect(Object.fromEntries(routes.map((r) => [r.host, r.service]))).toEqual(app.routes);
    for (const route of routes) expect(route.lane).toBe("internal");
  });

  test("keeps sign-up, registration and the installer shut", () => {
    const byName = Object.fromEntries(services(load(app.name)));
    for (const [service, vars] of Object.entries(app.closed)) expect(environment(byName[service])).toMatchObject(vars);
  });

  test("takes its credentials from Pulumi (generated, or the owner's config), never from the file", () => {
    expect(Object.fromEntries(load(app.name).secrets.map((s) => [s.key, s.source]))).toEqual(app.secrets);
  });

  test("writes no secret in the environment: credentials are files under /run/secrets of secrets the service mounts", () => {
    const declared = new Set(load(app.name).secrets.map((s) => s.key));
    for (const [name, service] of services(load(app.name))) {
      const mounted = new Set(mountedSecrets(service));
      for (const [variable, value] of Object.entries(environment(service))) {
        const at = `${name}.environment.${variable}=${value}`;
        expect([at, TOKEN_LIKE.test(value)]).toEqual([at, false]);
        if (SECRET_NAME.test(variable)) expect([at, /_FILE$/.test(variable)]).toEqual([at, true]);
        for (const [, key] of value.matchAll(/\/run\/secrets\/([A-Za-z0-9._-]+)/g)) {
          expect([at, mounted.has(key) && declared.has(key)]).toEqual([at, true]);
        }
        if (/_FILE$/.test(variable)) expect([at, value.startsWith("/run/secrets/")]).toEqual([at, true]);
      }
    }
  });

  test(`pins every service with a named volume to node.labels.${app.name} == true, one replica`, () => {
    const volumes = Object.keys(load(app.name).document.volumes ?? {});
    for (const [name, service] of services(load(app.name))) {
      const named = (service.volumes ?? []).filter((v: string | { source?: string }) => volumes.includes(typeof v === "string" ? v.split(":")[0] : (v.source ?? "")));
      if (named.length === 0) continue;
      expect([name, service.deploy?.placement?.constraints]).toEqual([name, expect.arrayContaining([`node.labels.${app.name} == true`])]);
      expect([name, service.deploy?.mode ?? "replicated", service.deploy?.replicas]).toEqual([name, "replicated", 1]);
    }
  });

  test("mounts no host path, and every service restarts on its own", () => {
    for (const [name, service] of services(load(app.name))) {
      for (const volume of service.volumes ?? []) expect([name, typeof volume === "string" ? volume.startsWith("/") : volume.type === "bind"]).toEqual([name, false]);
      expect([name, service.deploy?.restart_policy?.condition]).toEqual([name, "any"]);
    }
  });
});

test("mealie's first_admin.py reads the secret the service mounts and talks to Mealie on its own port", () => {
  const [, mealie] = services(load("mealie"))[0];
  const script = fs.readFileSync(path.join(STACKS, "mealie", "first_admin.py"), "utf8");
  expect(mountedSecrets(mealie)).toEqual(["admin_password"]);
  expect(script).toContain('SECRET = "/run/secrets/admin_password"');
  expect(script).toContain('API = "http://127.0.0.1:9000/api"');
  expect(mealie.configs).toEqual([expect.objectContaining({ source: "first_admin", target: "/homelab/first_admin.py" })]);
  expect(mealie.entrypoint.join(" ")).toContain("python3 /homelab/first_admin.py & exec /app/run.sh");
});

test("homeassistant's first configuration trusts the swarm's overlay addresses for X-Forwarded-For", () => {
  // Home Assistant's include tags, read as plain strings: only the http block matters here.
  const include = (tag: string) => ({ tag, resolve: (value: string) => `${tag} ${value}` });
  const text = fs.readFileSync(path.join(STACKS, "homeassistant", "configuration.yaml"), "utf8");
  const config = YAML.parse(text, { customTags: [include("!include"), include("!include_dir_merge_named")] });
  expect(config.http).toEqual({ use_x_forwarded_for: true, trusted_proxies: ["10.0.0.0/8"] });
  expect(config).toHaveProperty("default_config");
  expect(config.automation).toBe("!include automations.yaml");
});
