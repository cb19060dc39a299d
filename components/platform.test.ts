/**
 * The platform's resource graph under Pulumi mocks: networks, Swarm objects named by content,
 * stacks, and their wiring (what depends on what, what is secret, what replaces). What this does
 * not cover: that the scripts work on a swarm (the e2e suite deploys a stack on the lab).
 */
import * as pulumi from "@pulumi/pulumi";
import { StackSource } from "../compose/types";
import { DEFAULT_NETWORKS, DEFAULT_MONITORING, PlatformConfig } from "../config/schema";
import { Registration, recordRegistrations } from "./registrations.testing";

type Recorded = Registration;
let resources: Recorded[] = [];
/** Whether the mocked swarm refuses the next deploys. */
let refusedDeploy = false;


pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "random:index/randomPassword:RandomPassword") {
        state.result = `random-value-of-${args.name}`;
        state.bcryptHash = `$2a$10$bcrypt-of-${args.name}`;
      }
      if (args.type.startsWith("tls:")) {
        state.privateKeyPem = `key-of-${args.name}`;
        state.certPem = `cert-of-${args.name}`;
        state.certRequestPem = `request-of-${args.name}`;
      }
      if (args.type === "command:remote:Command" && args.name.endsWith("-deploy")) {
        state.stdout = refusedDeploy ? "deploy_failed=failed to create service demo_web: invalid constraint\nservices=\n" : "services=demo_web\n";
      }
      return { id: `${args.name}-id`, state };
    },
    call() {
      throw new Error("no invokes expected");
    },
  },
  "homelab",
  "homelab",
  false,
  "organization",
);

recordRegistrations((r) => resources.push(r));

import { Platform } from "./platform";

const platformConfig: PlatformConfig = { networks: DEFAULT_NETWORKS, stacks: ["demo"], traefik: { internalRanges: [], publicLane: false, dashboardHost: "traefik" }, dns: { upstreams: ["9.9.9.9"] }, monitoring: DEFAULT_MONITORING, jit: [], backup: false, gitops: false };

function demo(siteText: string): StackSource {
  return {
    name: "demo",
    file: "stacks/demo/compose.yml",
    document: {
      services: {
        web: {
          image: "traefik/whoami:v1.10.3",
          networks: ["traefik-public"],
          secrets: ["db_password"],
          configs: [{ source: "site", target: "/site.txt" }],
          deploy: { resources: { limits: { memory: "32M" }, reservations: { memory: "16M" } } },
        },
      },
      networks: { "traefik-public": { external: true } },
      secrets: { db_password: { "x-homelab": { generate: { length: 24 } } } },
      configs: { site: { file: "./site.txt" } },
    },
    services: ["web"],
    secrets: [{ key: "db_password", source: { kind: "random", length: 24 } }],
    configs: [{ key: "site", content: siteText, file: "stacks/demo/site.txt" }],
    externalNetworks: ["traefik-public"],
  } as StackSource;
}

async function build(source: StackSource, leaderHost = "10.0.0.1", swarmId = "swarm-1", stackRetries: Record<string, number> = {}, dashboardPassword?: string): Promise<Platform> {
  resources = [];
  const connection = pulumi.secret({ host: leaderHost, port: 22, user: "core", privateKey: "KEY", dialErrorLimit: 3, perDialTimeout: 10 });
  const platform = new Platform("platform", { platform: platformConfig, domain: "home.arpa", caCertificateFile: "out/stacks/t/homelab-ca.crt", stacks: [source], connection, swarmId: pulumi.output(swarmId), configSecret: () => pulumi.secret("from-config"), routedHosts: [{ host: "web.home.arpa", url: "https://web.home.arpa/", target: "demo/web", lane: "internal" }], dns: { upstreams: ["9.9.9.9"], answers: ["10.0.0.1", "10.0.0.2"] }, stackRetries, ...(dashboardPassword ? { dashboardPassword: pulumi.secret(dashboardPassword) } : {}) });
  await new Promise((resolve) => platform.stacks.demo.apply(resolve));
  await new Promise((r) => setTimeout(r, 50));
  return platform;
}

const one = (suffix: string) => {
  const found = resources.filter((r) => r.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one *${suffix}, got ${found.map((r) => r.name).join(", ") || "none"}`);
  return found[0];
};

describe("the platform's resource graph", () => {
  test("every shared network is ensured on a manager, keyed on its name and the swarm", async () => {
    await build(demo("hello"));
    for (const network of DEFAULT_NETWORKS) {
      const step = one(`networks-${network.name}`);
      expect(step.inputs.create).toBe(`bash -s -- ensure ${network.name} false`);
      expect(step.inputs.stdin).toContain("docker network create");
      expect(step.inputs.delete).toContain("docker network rm");
      expect(step.inputs.delete).toMatch(new RegExp(` remove ${network.name} swarm-1$`));
      expect(step.inputs.triggers).toEqual([network.name, "swarm-1"]);
      expect(step.inputs.connection.host).toBe("10.0.0.1");
    }
  });

  test("a config is a Swarm object named by its content; a new content is a new name (replacement)", async () => {
    await build(demo("hello"));
    const first = one("-config-site");
    expect(first.inputs.create).toMatch(/^bash -s -- ensure config demo_site-[0-9a-f]{8} demo$/);
    expect(first.inputs.stdin).toContain(`HOMELAB_OBJECT_CONTENT='${Buffer.from("hello").toString("base64")}'`);
    const firstName = first.inputs.triggers[0];
    await build(demo("hello"));
    expect(one("-config-site").inputs.triggers[0]).toBe(firstName);
    await build(demo("hello again"));
    expect(one("-config-site").inputs.triggers[0]).not.toBe(firstName);
  });

  test("a secret's value goes only to the object's stdin (secret), its name is an HMAC fingerprint", async () => {
    await build(demo("hello"));
    const secret = one("-secret-db_password");
    const value = "random-value-of-platform-demo-db_password";
    expect(secret.inputs.stdin).toContain(Buffer.from(value).toString("base64"));
    expect(secret.additionalSecretOutputs).toContain("stdin");
    expect(secret.inputs.create).toMatch(/^bash -s -- ensure secret demo_db_password-[0-9a-f]{8} demo$/);
    const plainHash = require("crypto").createHash("sha256").update(value).digest("hex").slice(0, 8);
    expect(secret.inputs.create).not.toContain(plainHash);
    for (const r of resources) {
      if (r.name.endsWith("-secret-db_password")) continue;
      expect(JSON.stringify(r.inputs)).not.toContain(value);
      expect(JSON.stringify(r.inputs)).not.toContain(Buffer.from(value).toString("base64"));
    }
  });

  test("the stack deploys the rendered compose text after its networks and objects", async () => {
    const platform = await build(demo("hello"));
    const deploy = one("platform-demo-deploy");
    expect(deploy.inputs.create).toBe("bash -s -- deploy demo");
    expect(deploy.inputs.stdin).toContain("HOMELAB_STACK_COMPOSE=$(cat <<'HOMELAB_COMPOSE_EOF'");
    expect(deploy.inputs.stdin).toMatch(/name: demo_site-[0-9a-f]{8}/);
    expect(deploy.inputs.stdin).toMatch(/name: demo_db_password-[0-9a-f]{8}/);
    expect(deploy.inputs.delete).toContain("docker stack rm");
    expect(deploy.dependencies).toEqual(
      expect.arrayContaining([one("networks-traefik-public").urn, one("-config-site").urn, one("-secret-db_password").urn]),
    );
    expect(deploy.dependencies).not.toContain(one("networks-monitoring").urn);
    expect(await new Promise((resolve) => platform.stacks.demo.apply(resolve))).toEqual(["demo_web"]);
  });

  test("a swarm formed anew replaces what lived in the old one; each removal only touches the swarm it made", async () => {
    await build(demo("hello"), "10.0.0.1", "swarm-1");
    const before = Object.fromEntries(resources.map((r) => [r.name, r.inputs.triggers]));
    await build(demo("hello"), "10.0.0.1", "swarm-2");
    for (const suffix of ["networks-traefik-public", "-config-site", "-secret-db_password", "platform-demo-deploy"]) {
      const step = one(suffix);
      expect(step.inputs.triggers).toContain("swarm-2");
      expect(step.inputs.triggers).not.toEqual(before[step.name]);
      expect(step.inputs.delete).toMatch(/ swarm-2$/);
    }
  });

  test("a homelab CA signs a wildcard certificate for the domain; the CA is written for the owner, the key stays secret", async () => {
    const platform = await build(demo("hello"));
    const ca = one("platform-tls-ca");
    expect(ca.inputs.isCaCertificate).toBe(true);
    expect(ca.inputs.privateKeyPem).toBe("key-of-platform-tls-ca-key");
    expect(one("platform-tls-wildcard-request").inputs.dnsNames).toEqual(["home.arpa", "*.home.arpa"]);
    const wildcard = one("platform-tls-wildcard");
    expect(wildcard.inputs).toMatchObject({ caCertPem: "cert-of-platform-tls-ca", caPrivateKeyPem: "key-of-platform-tls-ca-key", certRequestPem: "request-of-platform-tls-wildcard-request" });
    expect(wildcard.inputs.validityPeriodHours).toBeLessThanOrEqual(398 * 24);
    expect(wildcard.inputs.allowedUses).toContain("server_auth");
    const file = one("platform-tls-ca-file");
    expect(file.inputs).toMatchObject({ stdin: "cert-of-platform-tls-ca", create: "mkdir -p 'out/stacks/t' && cat > 'out/stacks/t/homelab-ca.crt'" });
    expect(await new Promise((resolve) => platform.tls.caCertificatePath.apply(resolve))).toBe("out/stacks/t/homelab-ca.crt");
    expect(await (platform.tls.privateKeyPem as any).isSecret).toBe(true);
  });

  test("a platform secret (the wildcard key) reaches its Swarm object from the TLS component, never the compose text", async () => {
    const source = demo("hello");
    await build({ ...source, secrets: [{ key: "db_password", source: { kind: "platform", name: "tls-key" } }] } as StackSource);
    expect(one("-secret-db_password").inputs.stdin).toContain(Buffer.from("key-of-platform-tls-wildcard-key").toString("base64"));
    expect(one("platform-demo-deploy").inputs.stdin).not.toContain("key-of-platform-tls-wildcard-key");
  });

  test("the dashboard's htpasswd line reaches only its Swarm secret; its password is a secret output", async () => {
    const source = demo("hello");
    const platform = await build({ ...source, secrets: [{ key: "db_password", source: { kind: "platform", name: "traefik-dashboard-users" } }] } as StackSource);
    const line = "admin:$2a$10$bcrypt-of-platform-traefik-dashboard-password\n";
    expect(one("-secret-db_password").inputs.stdin).toContain(Buffer.from(line).toString("base64"));
    expect(one("-secret-db_password").additionalSecretOutputs).toContain("stdin");
    expect(one("platform-traefik-dashboard-password").inputs).toMatchObject({ length: 24, special: false });
    expect(await (platform.dashboardPassword as any).isSecret).toBe(true);
    expect(await new Promise((resolve) => platform.dashboardPassword.apply(resolve))).toBe("random-value-of-platform-traefik-dashboard-password");
    expect(platform.urls).toEqual({ "demo/web": "https://web.home.arpa/" });
  });

  test("the owner's dashboard password (config secret) is hashed into the htpasswd line; none is generated", async () => {
    const source = demo("hello");
    const platform = await build({ ...source, secrets: [{ key: "db_password", source: { kind: "platform", name: "traefik-dashboard-users" } }] } as StackSource, "10.0.0.1", "swarm-1", {}, "owner's own");
    const content = Buffer.from(/HOMELAB_OBJECT_CONTENT='([^']*)'/.exec(one("-secret-db_password").inputs.stdin)![1], "base64").toString("utf8");
    const [user, hash] = content.trimEnd().split(":");
    expect(user).toBe("admin");
    expect(require("bcryptjs").compareSync("owner's own", hash)).toBe(true);
    expect(resources.some((r) => r.name.endsWith("traefik-dashboard-password"))).toBe(false);
    expect(await new Promise((resolve) => platform.dashboardPassword.apply(resolve))).toBe("owner's own");
    expect(await (platform.dashboardPassword as any).isSecret).toBe(true);
  });

  test("AdGuard Home's config (admin bcrypt hash, a rewrite per host and manager) reaches only its Swarm secret", async () => {
    const source = demo("hello");
    const platform = await build({ ...source, secrets: [{ key: "db_password", source: { kind: "platform", name: "adguard-config" } }] } as StackSource);
    const secret = one("-secret-db_password");
    const content = Buffer.from(/HOMELAB_OBJECT_CONTENT='([^']*)'/.exec(secret.inputs.stdin)![1], "base64").toString("utf8");
    expect(content).toContain("password: $2a$10$bcrypt-of-platform-dns-admin-password");
    expect(content).toMatch(/- domain: web\.home\.arpa\n\s+answer: 10\.0\.0\.1\n\s+enabled: true\n\s+- domain: web\.home\.arpa\n\s+answer: 10\.0\.0\.2/);
    expect(secret.additionalSecretOutputs).toContain("stdin");
    expect(await (platform.dnsAdminPassword as any).isSecret).toBe(true);
    expect(one("platform-demo-deploy").inputs.stdin).not.toContain("bcrypt-of");
  });

  test("Alertmanager's config (ntfy server and a generated topic) reaches only its Swarm secret; no topic without a stack that alerts", async () => {
    await build(demo("hello"));
    expect(resources.some((r) => r.name.endsWith("ntfy-topic"))).toBe(false);
    const alerting = demo("hello");
    const source = {
      ...alerting,
      document: { ...alerting.document, secrets: { ...(alerting.document.secrets as object), am: { "x-homelab": { platform: "alertmanager-config" } } } },
      secrets: [...alerting.secrets, { key: "am", source: { kind: "platform", name: "alertmanager-config" } }],
    } as StackSource;
    const platform = await build(source);
    expect(one("ntfy-topic").inputs).toMatchObject({ length: 32, special: false });
    const step = one("-secret-am");
    expect(step.inputs.create).not.toContain("ntfy");
    const stdin = Buffer.from(/HOMELAB_OBJECT_CONTENT='([^']*)'/.exec(step.inputs.stdin)![1], "base64").toString("utf8");
    const topic = await new Promise<string>((resolve) => platform.ntfyTopic.apply(resolve));
    expect(stdin).toContain(`url: https://ntfy.sh/${topic}?tpl=yes`);
  });

  test("a routed service's compose text carries its Traefik router for the domain", async () => {
    const source = demo("hello");
    await build({ ...source, routes: [{ service: "web", host: "web", port: 80, lane: "internal" }] } as StackSource);
    expect(one("platform-demo-deploy").inputs.stdin).toContain("traefik.http.routers.demo-web.rule: Host(`web.home.arpa`)");
  });

  test("a refused deploy is an error naming the stack and the fix, not a failed step; its count moves the trigger, so the next run retries it", async () => {
    const errors = jest.spyOn(pulumi.log, "error").mockImplementation(async () => undefined);
    try {
      refusedDeploy = true;
      const refused = await build(demo("hello"), "10.0.0.1", "swarm-1", { demo: 1 });
      expect(await new Promise((resolve) => refused.stackRetries.demo.apply(resolve))).toBe(2);
      expect(one("platform-demo-deploy").inputs.triggers).toEqual(["swarm-1", "retry-1"]);
      expect(errors).toHaveBeenCalledWith(expect.stringMatching(/^stack demo was not deployed: failed to create service demo_web: invalid constraint\. The other stacks were; .*Fix: correct stacks\/demo\/compose\.yml/), expect.anything());
      errors.mockClear();
      refusedDeploy = false;
      const fine = await build(demo("hello"), "10.0.0.1", "swarm-1", { demo: 2 });
      expect(one("platform-demo-deploy").inputs.triggers).toEqual(["swarm-1", "retry-2"]);
      // Once through, the count stays, so the run after it is a no-op.
      expect(await new Promise((resolve) => fine.stackRetries.demo.apply(resolve))).toBe(2);
      expect(errors).not.toHaveBeenCalled();
      await build(demo("hello"));
      expect(one("platform-demo-deploy").inputs.triggers).toEqual(["swarm-1"]);
    } finally {
      refusedDeploy = false;
      errors.mockRestore();
    }
  });

  test("a new leader changes only the connection: no name, trigger or compose text moves", async () => {
    await build(demo("hello"), "10.0.0.1");
    const before = resources.map((r) => ({ name: r.name, triggers: r.inputs.triggers, create: r.inputs.create, stdin: r.inputs.stdin }));
    await build(demo("hello"), "10.0.0.2");
    const after = resources.map((r) => ({ name: r.name, triggers: r.inputs.triggers, create: r.inputs.create, stdin: r.inputs.stdin }));
    expect(after).toEqual(before);
    expect(one("networks-traefik-public").inputs.connection.host).toBe("10.0.0.2");
  });

  test("the backup agent's secrets: the SSH key from its config secret with the newline OpenSSH needs, known hosts, the JIT helper's own token, the password generated and output", async () => {
    resources = [];
    /** A one-service stack mounting `secrets` (what the compose file declares matters only to the rendered text). */
    const withSecrets = (name: string, secrets: StackSource["secrets"]): StackSource => {
      const base = demo("x");
      const document = structuredClone(base.document) as Record<string, any>;
      document.services.web.secrets = secrets.map((s) => s.key);
      document.secrets = Object.fromEntries(secrets.map((s) => [s.key, {}]));
      return { ...base, name, file: `stacks/${name}/compose.yml`, document, secrets };
    };
    const helper = withSecrets("jit", [{ key: "jit_token", source: { kind: "random", length: 40 } }]);
    const agent = withSecrets("backup", [
      { key: "restic_password", source: { kind: "platform", name: "backup-password" } },
      { key: "restic_ssh_key", source: { kind: "platform", name: "backup-ssh-key" } },
      { key: "restic_known_hosts", source: { kind: "platform", name: "backup-known-hosts" } },
      { key: "jit_token", source: { kind: "platform", name: "jit-token" } },
    ]);
    const backup = { schedule: "03:00", repository: "sftp:b@nas:/r", retention: { daily: 7, weekly: 4, monthly: 6 }, exclude: [], knownHosts: ["nas ssh-ed25519 AAAA", "nas2 ssh-ed25519 BBBB"] };
    const platform = new Platform("platform", {
      platform: { ...platformConfig, stacks: ["jit", "backup"], backup },
      domain: "home.arpa",
      caCertificateFile: "out/stacks/t/homelab-ca.crt",
      stacks: [helper, agent],
      connection: pulumi.secret({ host: "10.0.0.1", port: 22, user: "core", privateKey: "KEY", dialErrorLimit: 3, perDialTimeout: 10 }),
      swarmId: pulumi.output("swarm-1"),
      configSecret: (key) => pulumi.secret(key === "backupSshKey" ? "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----" : "other"),
      routedHosts: [],
      dns: { upstreams: ["9.9.9.9"], answers: ["10.0.0.1"] },
    });
    await new Promise((resolve) => platform.stacks.backup.apply(resolve));
    await new Promise((r) => setTimeout(r, 50));
    const content = (suffix: string) => {
      const stdin = String(one(suffix).inputs.stdin);
      return Buffer.from(/HOMELAB_OBJECT_CONTENT='([^']*)'/.exec(stdin)![1], "base64").toString("utf8");
    };
    expect(content("backup-secret-restic_ssh_key")).toBe("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n");
    expect(content("backup-secret-restic_known_hosts")).toBe("nas ssh-ed25519 AAAA\nnas2 ssh-ed25519 BBBB\n");
    expect(content("backup-secret-jit_token")).toBe(content("jit-secret-jit_token"));
    expect(content("backup-secret-restic_password")).toBe("random-value-of-platform-backup-password");
    for (const key of ["restic_ssh_key", "restic_password", "jit_token"]) expect(one(`backup-secret-${key}`).additionalSecretOutputs).toContain("stdin");
    expect(await new Promise((resolve) => platform.backupPassword.apply(resolve))).toBe("random-value-of-platform-backup-password");
  });

  test("the stateful stacks (those with named volumes) are named for the GitOps gate", () => {
    const stateful = { ...demo("x"), name: "vault", document: { ...demo("x").document, volumes: { data: {} } } };
    const platform = new Platform("platform", {
      platform: platformConfig,
      domain: "home.arpa",
      caCertificateFile: "out/stacks/t/homelab-ca.crt",
      stacks: [demo("x"), stateful],
      connection: pulumi.secret({ host: "10.0.0.1", port: 22, user: "core", privateKey: "KEY", dialErrorLimit: 3, perDialTimeout: 10 }),
      swarmId: pulumi.output("swarm-1"),
      configSecret: () => pulumi.secret("other"),
      routedHosts: [],
      dns: { upstreams: ["9.9.9.9"], answers: ["10.0.0.1"] },
    });
    expect(platform.statefulStacks).toEqual(["vault"]);
  });

  test("a stack with an image to build deploys only once the build on its node is done; the runner's secrets hold the bucket's keys and the ntfy topic", async () => {
    resources = [];
    const runner: StackSource = {
      ...demo("x"),
      name: "gitops",
      document: { ...demo("x").document, secrets: { creds: { "x-homelab": { platform: "gitops-backend-credentials" } }, topic: { "x-homelab": { platform: "ntfy-topic" } } } },
      secrets: [
        { key: "creds", source: { kind: "platform", name: "gitops-backend-credentials" } },
        { key: "topic", source: { kind: "platform", name: "ntfy-topic" } },
      ],
      builds: [{ service: "web", image: "homelab/gitops-runner:3.259.0-abc", dockerfile: "FROM x\n", node: "pi-1" }],
    };
    let finishBuild: (tag: string) => void = () => undefined;
    const built = new Promise<string>((resolve) => (finishBuild = resolve));
    const asked: unknown[] = [];
    const platform = new Platform("platform", {
      platform: platformConfig,
      domain: "home.arpa",
      caCertificateFile: "out/stacks/t/homelab-ca.crt",
      stacks: [runner],
      connection: pulumi.secret({ host: "10.0.0.1", port: 22, user: "core", privateKey: "KEY", dialErrorLimit: 3, perDialTimeout: 10 }),
      swarmId: pulumi.output("swarm-1"),
      configSecret: (key) => pulumi.secret(`value-of-${key}`),
      routedHosts: [],
      dns: { upstreams: ["9.9.9.9"], answers: ["10.0.0.1"] },
      buildImage: (build, parent) => {
        asked.push([build, (parent as unknown as { __name?: string }).__name]);
        return pulumi.output(built);
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(asked).toEqual([[runner.builds![0], "platform"]]);
    expect(resources.filter((r) => r.name.endsWith("gitops-deploy"))).toEqual([]);
    finishBuild("homelab/gitops-runner:3.259.0-abc");
    await new Promise((resolve) => platform.stacks.gitops.apply(resolve));
    await new Promise((r) => setTimeout(r, 50));
    expect(one("gitops-deploy").inputs.create).toBe("bash -s -- deploy gitops");
    const content = (suffix: string) => Buffer.from(/HOMELAB_OBJECT_CONTENT='([^']*)'/.exec(String(one(suffix).inputs.stdin))![1], "base64").toString("utf8");
    expect(content("gitops-secret-creds")).toBe("[default]\naws_access_key_id = value-of-gitopsBackendAccessKeyId\naws_secret_access_key = value-of-gitopsBackendSecretAccessKey\n");
    expect(content("gitops-secret-topic")).toBe("random-value-of-platform-ntfy-topic");
  });
});
