import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FILE, parse, problems, validDoc } from "./fixtures";
import { listStacks, loadStack, parseStack } from "./load";
import { StackError } from "./types";

/** A valid stack, changed by `f`. */
function edit(f: (d: Record<string, any>) => void): Record<string, any> {
  const d = validDoc();
  f(d);
  return d;
}

describe("parseStack reads a valid stack", () => {
  const source = parse(validDoc());

  test("services, secrets with their source, configs with their content, external networks", () => {
    expect(source.name).toBe("demo");
    expect(source.file).toBe(FILE);
    expect(source.services).toEqual(["web"]);
    expect(source.secrets).toEqual([{ key: "web_password", source: { kind: "random", length: 32 } }]);
    expect(source.configs).toEqual([{ key: "site", content: "hello\n", file: "stacks/demo/site.txt" }]);
    expect(source.externalNetworks).toEqual(["traefik-public"]);
    expect(source.memory).toEqual({ web: { limit: 64 * 1024 ** 2, reservation: 32 * 1024 ** 2 } });
  });

  test("a config secret names its stack config key; inline content is a config without a file", () => {
    const doc = validDoc();
    doc.secrets.web_password = { "x-homelab": { config: "webPassword" } };
    doc.configs.site = { content: "inline" };
    const s = parse(doc);
    expect(s.secrets).toEqual([{ key: "web_password", source: { kind: "config", key: "webPassword" } }]);
    expect(s.configs).toEqual([{ key: "site", content: "inline" }]);
  });

  test("a platform secret names what the platform makes (the wildcard key, e.g. for Traefik)", () => {
    const doc = validDoc();
    doc.secrets.web_password = { "x-homelab": { platform: "tls-key" } };
    expect(parse(doc).secrets).toEqual([{ key: "web_password", source: { kind: "platform", name: "tls-key" } }]);
  });

  test("an external network's Swarm name is its name: when given", () => {
    const doc = validDoc();
    doc.networks["traefik-public"] = { external: true, name: "proxy" };
    expect(parse(doc).externalNetworks).toEqual(["proxy"]);
  });

  test("ingress ports are listed (not refused); host-mode ports are not", () => {
    const doc = validDoc();
    doc.services.web.ports = ["8080:80", { target: 53, published: 53, protocol: "udp" }, { target: 443, published: 443, mode: "host" }];
    expect(parse(doc).ingressPorts).toEqual([
      { service: "web", spec: "8080:80" },
      { service: "web", spec: "53:53/udp" },
    ]);
  });

  test("merge keys and anchors resolve, and 0440 is octal as Docker reads it", () => {
    const text = [
      "x-defaults: &defaults",
      "  deploy: {resources: {limits: {memory: 32M}, reservations: {memory: 16M}}}",
      "services:",
      "  web:",
      "    <<: *defaults",
      "    image: nginx:1.27.0",
      "    secrets: [{source: s, mode: 0440}]",
      "secrets:",
      "  s: {x-homelab: {generate: {length: 16}}}",
    ].join("\n");
    const doc = parse(text).document as any;
    expect(doc.services.web.deploy.resources.limits.memory).toBe("32M");
    expect(doc.services.web.secrets[0].mode).toBe(0o440);
  });
});

/** Asserts that `doc` gives exactly one problem, at `key`, whose message matches `message`. */
function expectOne(doc: unknown, key: string, message: RegExp, files?: Record<string, string>): void {
  const found = problems(doc, files);
  expect(found).toHaveLength(1);
  expect(found[0].startsWith(`${key}: `)).toBe(true);
  expect(found[0]).toMatch(message);
  expect(found[0]).toMatch(/Fix: /);
}

describe("parseStack refuses, naming the key, with a fix", () => {
  test("YAML syntax errors, with the line, without the file's text", () => {
    const secretLooking = "SUPERSECRETVALUE";
    const found = problems(`services:\n  web:\n    image: [${secretLooking}\n`);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(/^line \d+, column \d+: YAML syntax: /);
    expect(found.join("\n")).not.toContain(secretLooking);
  });

  test("a duplicate key is a syntax error", () => {
    expect(problems("services: {}\nservices: {}\n")[0]).toMatch(/line 2, column 1: YAML syntax: Map keys must be unique/);
  });

  test("no services", () => {
    expectOne({ networks: {} }, "services", /is missing/);
  });

  test("a service without an image", () => {
    expectOne(edit((d) => delete d.services.web.image), "services.web.image", /is missing/);
  });

  test.each([
    ["prom/prometheus", /"prom\/prometheus" has no version tag.*e\.g\. prom\/prometheus:1\.2\.3/],
    ["prom/prometheus:latest", /uses :latest/],
    ["registry.lan:5000/app", /has no version tag/],
  ])("the image %s", (image, message) => {
    expectOne(edit((d) => (d.services.web.image = image)), "services.web.image", message);
  });

  test.each(["registry.lan:5000/app:1.0", "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"])("the image %s is pinned", (image) => {
    expect(problems(edit((d) => (d.services.web.image = image)))).toEqual([]);
  });

  test.each([
    ["build", ".", /Swarm cannot build images/],
    ["container_name", "web", /Swarm names containers itself/],
    ["devices", ["/dev/ttyUSB0:/dev/ttyUSB0"], /get no devices/],
    ["restart", "always", /deploy\.restart_policy/],
    ["privileged", true, /cannot run privileged/],
  ])("%s (ignored by docker stack deploy)", (key, value, message) => {
    expectOne(edit((d) => (d.services.web[key] = value)), `services.web.${key}`, message);
  });

  test.each([
    ["secrets", ["nope"], "services.web.secrets[0]"],
    ["configs", [{ source: "nope", target: "/x" }], "services.web.configs[0]"],
    ["networks", ["nope"], "services.web.networks[0]"],
    ["networks", { nope: { aliases: ["x"] } }, "services.web.networks.nope"],
  ])("a service's %s naming what is not declared", (section, value, key) => {
    expectOne(edit((d) => (d.services.web[section] = value)), key, /"nope" is not declared under the top-level/);
  });

  test("the default network needs no declaration", () => {
    expect(problems(edit((d) => (d.services.web.networks = ["default"])))).toEqual([]);
  });

  test("a secret with no source", () => {
    expectOne(edit((d) => (d.secrets.web_password = {})), "secrets.web_password", /has no source.*generate: \{ length: 32 \}.*pulumi config set --secret homelab:webPassword/);
  });

  test.each([
    ["file", "./pw.txt", /in the repository/],
    ["environment", "PW", /shell of whoever deploys/],
    ["external", true, /made by hand outside Pulumi/],
  ])("a secret from %s", (field, value, message) => {
    const found = problems(edit((d) => (d.secrets.web_password = { [field]: value, "x-homelab": { generate: { length: 32 } } })));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^secrets\\.web_password\\.${field}: `));
    expect(found[0]).toMatch(message);
  });

  test.each([
    [{ generate: { length: 15 } }, "secrets.web_password.x-homelab.generate", /from 16 to 128/],
    [{ generate: { length: 129 } }, "secrets.web_password.x-homelab.generate", /from 16 to 128/],
    [{ generate: {} }, "secrets.web_password.x-homelab.generate", /needs "length"/],
    [{ config: "web_password" }, "secrets.web_password.x-homelab.config", /not a camelCase config key/],
    [{ config: "a", generate: { length: 32 } }, "secrets.web_password.x-homelab", /exactly one of/],
    [{ value: "x" }, "secrets.web_password.x-homelab", /exactly one of.*\(not value\)/],
    [{ platform: "root-password" }, "secrets.web_password.x-homelab.platform", /not something the platform makes.*tls-key, tls-certificate, ca-certificate/],
  ])("the secret source %j", (homelab, key, message) => {
    expectOne(edit((d) => (d.secrets.web_password = { "x-homelab": homelab })), key, message);
  });

  test.each([
    ["DB_PASSWORD", "hunter2"],
    ["API_TOKEN", "abc"],
    ["ADMIN_SECRET", 1234],
    ["TS_AUTHKEY", "tskey-x"],
  ])("a literal %s in environment (map form)", (name, value) => {
    expectOne(edit((d) => (d.services.web.environment = { [name]: value })), `services.web.environment.${name}`, new RegExp(`${name}_FILE=/run/secrets/${name.toLowerCase()}`));
  });

  test("a literal secret in environment (list form)", () => {
    expectOne(edit((d) => (d.services.web.environment = ["A=1", "DB_PASSWORD=hunter2"])), "services.web.environment[1]", /DB_PASSWORD looks like a secret/);
  });

  test("*_FILE paths, /run/secrets paths, empty values and other names are fine", () => {
    const env = { DB_PASSWORD_FILE: "/run/secrets/db", API_TOKEN: "/run/secrets/token", EMPTY_PASSWORD: "", PUBLIC_URL: "https://x", KEYBOARD: "us", TS_AUTHKEY: "file:/run/secrets/authkey", SHOW_PASSWORD_HINT: "false", PASSWORD_LOGIN: true };
    expect(problems(edit((d) => (d.services.web.environment = env)))).toEqual([]);
  });

  test("a config with neither file: nor content:", () => {
    expectOne(edit((d) => (d.configs.site = {})), "configs.site", /has neither file: nor content:/);
  });

  test("an external config", () => {
    expectOne(edit((d) => (d.configs.site = { external: true })), "configs.site", /external configs are not supported/);
  });

  test("a config file that does not exist names its path", () => {
    expectOne(edit((d) => (d.configs.site = { file: "./missing.conf" })), "configs.site.file", /cannot read stacks\/demo\/missing\.conf \(ENOENT\)/);
  });

  test.each(["/etc/shadow", "../other/site.txt", "~/.ssh/id_rsa"])("a config file outside the stack's folder (%s)", (file) => {
    expectOne(edit((d) => (d.configs.site = { file })), "configs.site.file", /is outside the stack's folder/);
  });

  test.each([
    ["limits", "services.web.deploy.resources.limits.memory"],
    ["reservations", "services.web.deploy.resources.reservations.memory"],
  ])("missing %s memory", (kind, key) => {
    expectOne(edit((d) => delete d.services.web.deploy.resources[kind]), key, /is missing: memory is what a 2 GB Pi runs out of/);
  });

  test("a service with no deploy at all misses both", () => {
    const found = problems(edit((d) => delete d.services.web.deploy));
    expect(found.map((p) => p.split(":")[0])).toEqual(["services.web.deploy.resources.limits.memory", "services.web.deploy.resources.reservations.memory"]);
  });

  test.each([
    [536870912, /must be a string/],
    ["512 MB", /is not a size/],
  ])("memory %j", (memory, message) => {
    expectOne(edit((d) => (d.services.web.deploy.resources.limits.memory = memory)), "services.web.deploy.resources.limits.memory", message);
  });

  test("a reservation above the limit", () => {
    expectOne(edit((d) => (d.services.web.deploy.resources.reservations.memory = "128M")), "services.web.deploy.resources.reservations.memory", /more than its limit/);
  });

  test.each([
    ["3.9", true],
    ["3.5", true],
    ["3.4", false],
    [3.8, false],
    ["2.4", false],
  ])("version %j", (version, ok) => {
    const found = problems(edit((d) => (d.version = version)));
    expect(found.length === 0).toBe(ok);
    if (!ok) expect(found[0]).toMatch(/^version: .*from "3\.5" to "3\.9"/);
  });

  test("an unknown top-level key; x- extensions are fine", () => {
    expectOne(edit((d) => Object.assign(d, { name: "demo", "x-anything": { a: 1 } })), "name", /not a top-level key/);
  });

  test.each([
    ["${HOST}", /"\$\{HOST\}" would be filled from the environment of the swarm leader/],
    ["http://$HOST/", /"\$HOST" would be filled/],
  ])("interpolation of %s", (value, message) => {
    expectOne(edit((d) => (d.services.web.environment = { URL: value })), "services.web.environment.URL", message);
  });

  test("$$ is a literal $ (e.g. an htpasswd hash in a label)", () => {
    expect(problems(edit((d) => (d.services.web.deploy.labels = { auth: "u:$$apr1$$abc" })))).toEqual([]);
  });

  test("a service name too long for <stack>_<service>", () => {
    const name = "s".repeat(60);
    const found = problems(edit((d) => (d.services = { [name]: d.services.web })));
    expect(found).toEqual([expect.stringMatching(new RegExp(`^services\\.${name}: Swarm names the service demo_${name}`))]);
  });

  test("a bad stack (folder) name", () => {
    expect(() => parseStack("My_Stack", FILE, "services: {}", () => "")).toThrow(/the stack name "My_Stack" \(its folder\) must be/);
  });

  test("every problem at once, each line naming the file and the key", () => {
    const doc = edit((d) => {
      d.services.web.image = "nginx";
      d.services.web.devices = ["/dev/ttyUSB0"];
      delete d.services.web.deploy;
      d.secrets.web_password = { file: "./pw" };
    });
    let error: unknown;
    try {
      parse(doc);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StackError);
    const message = (error as StackError).message;
    expect(message).toMatch(/^stacks\/demo\/compose\.yml: 6 problems; nothing was deployed:\n/);
    for (const key of ["services.web.image", "services.web.devices", "services.web.deploy.resources.limits.memory", "services.web.deploy.resources.reservations.memory", "secrets.web_password.file", "secrets.web_password: has no source"]) {
      expect(message).toContain(`  - stacks/demo/compose.yml: ${key}`);
    }
  });
});

describe("loadStack and listStacks read the disk", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "compose-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };

  test("a stack is named by its folder; config files are read relative to the compose file", () => {
    write("demo/docker-compose.yml", JSON.stringify(validDoc()));
    write("demo/site.txt", "from disk");
    const source = loadStack(path.join(root, "demo"));
    expect(source.name).toBe("demo");
    expect(source.file).toBe(path.join(root, "demo", "docker-compose.yml"));
    expect(source.configs[0]).toEqual({ key: "site", content: "from disk", file: `${path.join(root, "demo")}/site.txt` });
  });

  test("a folder with no compose file, or two", () => {
    fs.mkdirSync(path.join(root, "empty"));
    expect(() => loadStack(path.join(root, "empty"))).toThrow(/holds no compose file/);
    write("two/compose.yml", "");
    write("two/compose.yaml", "");
    expect(() => loadStack(path.join(root, "two"))).toThrow(/holds compose\.yaml and compose\.yml; which one/);
  });

  test("listStacks lists the folders holding a compose file, sorted", () => {
    write("b/compose.yml", "");
    write("a/compose.yaml", "");
    write("notes/README.md", "");
    write("README.md", "");
    expect(listStacks(root)).toEqual(["a", "b"]);
  });

});

describe("parseStack reads what the platform adds to compose", () => {
  describe("x-homelab.route on a service", () => {
    const withRoute = (route: unknown, extra: Record<string, unknown> = {}) =>
      edit((d) => (d.services.web["x-homelab"] = { route, ...extra }));

    test("is read with the internal lane by default, and makes traefik-public a network the platform must create", () => {
      const doc = withRoute({ host: "whoami", port: 80 });
      doc.services.web.networks = ["internal"];
      delete doc.networks["traefik-public"];
      const source = parse(doc);
      expect(source.routes).toEqual([{ service: "web", host: "whoami", port: 80, lane: "internal" }]);
      expect(source.externalNetworks).toEqual(["traefik-public"]);
    });

    test.each([
      [{ host: "Who.Ami", port: 80 }, "services.web.x-homelab.route.host", /one DNS label/],
      [{ host: "whoami", port: 0 }, "services.web.x-homelab.route.port", /not a port/],
      [{ host: "whoami", port: "80" }, "services.web.x-homelab.route.port", /not a port/],
      [{ host: "whoami", port: 80, lane: "dmz" }, "services.web.x-homelab.route.lane", /"internal".*"public"/],
      [{ host: "whoami", port: 80, tls: false }, "services.web.x-homelab.route.tls", /not a route setting/],
      ["whoami", "services.web.x-homelab.route", /expected a map/],
    ])("%j is refused at its key, with the fix", (route, key, why) => {
      const found = problems(withRoute(route));
      expect(found).toHaveLength(1);
      expect(found[0].startsWith(`${key}: `)).toBe(true);
      expect(found[0]).toMatch(why);
      expect(found[0]).toMatch(/Fix: /);
    });

    test("an unknown x-homelab key on a service is refused", () => {
      expect(problems(withRoute({ host: "w", port: 80 }, { replicas: 0 }))).toEqual([
        expect.stringMatching(/^services\.web\.x-homelab\.replicas: is not a setting homelab knows on a service\. Fix: /),
      ]);
    });

    test("two services of a stack on one host is an error naming the second", () => {
      const doc = withRoute({ host: "same", port: 80 });
      doc.services.api = { ...structuredClone(doc.services.web) };
      expect(problems(doc)).toEqual([expect.stringMatching(/^services\.api\.x-homelab\.route\.host: "same" is also the host of web\./)]);
    });
  });

  describe("a config the platform renders", () => {
    test("x-homelab.platform names it; its content is filled in later", () => {
      const source = parse(edit((d) => (d.configs.site = { "x-homelab": { platform: "traefik-static" } })));
      expect(source.configs).toEqual([{ key: "site", content: "", platform: "traefik-static" }]);
    });

    test.each([[{ "x-homelab": { platform: "nginx" } }], [{ "x-homelab": { platform: "traefik-static" }, file: "./site.txt" }]])("%j is refused", (spec) => {
      expect(problems(edit((d) => (d.configs.site = spec)))).toEqual([expect.stringMatching(/^configs\.site\.x-homelab: .*Fix: "x-homelab: \{ platform: <name> \}" alone/)]);
    });
  });
});
