import * as YAML from "yaml";
import { FILES, parse, problems, validDoc } from "./fixtures";
import { contentFingerprint, objectName } from "./names";
import { RenderNames, renderStack } from "./render";
import { StackError, StackSource } from "./types";

/** The names the platform would give: configs by content, the secret by a stand-in fingerprint. */
function namesFor(source: StackSource): RenderNames {
  return {
    secrets: Object.fromEntries(source.secrets.map((s) => [s.key, objectName(source.name, s.key, "5ec12e70")])),
    configs: Object.fromEntries(source.configs.map((c) => [c.key, objectName(source.name, c.key, contentFingerprint(c.content))])),
  };
}

const render = (doc: unknown, files = FILES, labels?: Record<string, string>) => {
  const source = parse(doc, files);
  return renderStack(source, namesFor(source), { labels, domain: "home.arpa" });
};
const rendered = (doc: unknown, files = FILES) => YAML.parse(render(doc, files));

describe("renderStack", () => {
  test("secrets and configs become external objects with the given names; no content, no x-homelab", () => {
    const out = rendered(validDoc());
    expect(out.secrets).toEqual({ web_password: { external: true, name: "demo_web_password-5ec12e70" } });
    expect(out.configs).toEqual({ site: { external: true, name: `demo_site-${contentFingerprint("hello\n")}` } });
  });

  test("no secret value, config content or x-homelab key is anywhere in the text", () => {
    const sentinel = "SENTINEL-c0nfig-CONTENT-0xdeadbeef";
    const doc = validDoc();
    doc.secrets.web_password["x-homelab"] = { config: "sentinelSecretKey" };
    doc.configs.inline = { content: `${sentinel} inline` };
    doc.services.web["x-homelab"] = { route: { host: "web", port: 80 } };
    const text = render(doc, { "site.txt": sentinel });
    expect(text).not.toContain(sentinel);
    expect(text).not.toContain("sentinelSecretKey");
    expect(text).not.toContain("x-homelab");
    expect(text).not.toContain("file:");
    expect(text).not.toContain("content:");
  });

  test("a missing name is an error naming the stack, the file and the key", () => {
    const source = parse(validDoc());
    const names = namesFor(source);
    expect(() => renderStack(source, { ...names, configs: {} })).toThrow(StackError);
    expect(() => renderStack(source, { ...names, configs: {} })).toThrow(/stacks\/demo\/compose\.yml: configs\.site: stack demo: no Swarm object name was given/);
    expect(() => renderStack(source, { ...names, secrets: { web_password: "bad name!" } })).toThrow(/secrets\.web_password: stack demo: "bad name!" is not a valid Swarm name/);
  });

  test("external networks stay external; the stack's own networks are as written", () => {
    const doc = validDoc();
    doc.networks.internal = { driver: "overlay", attachable: true };
    const out = rendered(doc);
    expect(out.networks).toEqual({ "traefik-public": { external: true }, internal: { driver: "overlay", attachable: true } });
  });

  test("homelab.stack and extra labels join a map of the user's labels", () => {
    const doc = validDoc();
    doc.services.web.deploy.labels = { "traefik.enable": "true", "homelab.stack": "forged" };
    const out = YAML.parse(render(doc, FILES, { "homelab.jit": "true" }));
    expect(out.services.web.deploy.labels).toEqual({ "traefik.enable": "true", "homelab.stack": "demo", "homelab.jit": "true" });
  });

  test("homelab.stack and extra labels join a list of the user's k=v labels, keeping the list form", () => {
    const doc = validDoc();
    doc.services.web.deploy.labels = ["traefik.enable=true", "homelab.stack=forged", "a=b=c"];
    const out = YAML.parse(render(doc, FILES, { "homelab.jit": "true" }));
    expect(out.services.web.deploy.labels).toEqual(["traefik.enable=true", "a=b=c", "homelab.jit=true", "homelab.stack=demo"]);
  });

  test("every service gets the label, also one with no deploy.labels yet", () => {
    const doc = validDoc();
    doc.services.db = { ...doc.services.web, image: "postgres:16.3" };
    const out = rendered(doc);
    expect(Object.values(out.services).map((s: any) => s.deploy.labels["homelab.stack"])).toEqual(["demo", "demo"]);
    expect(out.services.web.deploy.resources).toEqual(validDoc().services.web.deploy.resources);
  });

  test("version 3.9 is written first when the file has none; the file's own version is kept", () => {
    expect(render(validDoc()).startsWith('version: "3.9"\nservices:\n')).toBe(true);
    expect(render({ version: "3.8", ...validDoc() }).startsWith('version: "3.8"\n')).toBe(true);
  });

  test("strings a YAML 1.1 reader (Docker 20.10) would misread stay strings; octal modes keep their value", () => {
    const doc = validDoc();
    doc.services.web.environment = { A: "on", B: "y", C: "0440", D: "1_000", WEB_PASSWORD_FILE: "/run/secrets/web_password" };
    doc.services.web.secrets = [{ source: "web_password", mode: 0o440 }];
    const text = render(doc);
    for (const quoted of ['A: "on"', 'B: "y"', 'C: "0440"', 'D: "1_000"']) expect(text).toContain(quoted);
    expect(text).toContain("mode: 288");
    expect(YAML.parse(text, { version: "1.1" }).services.web.environment).toEqual(doc.services.web.environment);
  });

  test("the same input renders byte-identical text", () => {
    const a = render(validDoc());
    const b = render(validDoc());
    expect(b).toBe(a);
  });

  test("changing a config file changes only that config's name in the output", () => {
    const before = render(validDoc()).split("\n");
    const after = render(validDoc(), { "site.txt": "hello, edited\n" }).split("\n");
    expect(after).toHaveLength(before.length);
    const changed = before.flatMap((line, i) => (line === after[i] ? [] : [[line, after[i]]]));
    expect(changed).toEqual([[`    name: demo_site-${contentFingerprint("hello\n")}`, `    name: demo_site-${contentFingerprint("hello, edited\n")}`]]);
  });

  test("the source is not modified (it can be rendered again)", () => {
    const source = parse(validDoc());
    const copy = structuredClone(source.document);
    renderStack(source, namesFor(source), { labels: { x: "y" } });
    expect(source.document).toEqual(copy);
  });

  describe("routes", () => {
    const routed = (route: Record<string, unknown>, edit: (d: Record<string, any>) => void = () => undefined) => {
      const doc = validDoc();
      doc.services.web["x-homelab"] = { route };
      edit(doc);
      return rendered(doc);
    };

    test("an internal route is one HTTPS router for <host>.<domain> behind the LAN-only middleware, to the port given", () => {
      const labels = routed({ host: "whoami", port: 8080 }).services.web.deploy.labels;
      expect(labels).toEqual({
        "traefik.enable": "true",
        "traefik.http.routers.demo-web.rule": "Host(`whoami.home.arpa`)",
        "traefik.http.routers.demo-web.entrypoints": "websecure",
        "traefik.http.routers.demo-web.tls": "true",
        "traefik.http.routers.demo-web.middlewares": "lan-only@file",
        "traefik.http.routers.demo-web.service": "demo-web",
        "traefik.http.services.demo-web.loadbalancer.server.port": "8080",
        "homelab.stack": "demo",
      });
    });

    test("a public route adds a second router on the public entry point, with the public chain instead of the LAN filter", () => {
      const labels = routed({ host: "blog", port: 80, lane: "public" }).services.web.deploy.labels;
      expect(labels["traefik.http.routers.demo-web.middlewares"]).toBe("lan-only@file");
      expect(labels["traefik.http.routers.demo-web-public.entrypoints"]).toBe("public");
      expect(labels["traefik.http.routers.demo-web-public.middlewares"]).toBe("public-chain@file");
      expect(labels["traefik.http.routers.demo-web-public.rule"]).toBe("Host(`blog.home.arpa`)");
    });

    test("a routed service joins traefik-public (declared external if the file did not), and stays on its other networks", () => {
      expect(routed({ host: "web", port: 80 }).services.web.networks).toEqual(["traefik-public", "internal"]);
      const bare = routed({ host: "web", port: 80 }, (d) => {
        delete d.services.web.networks;
        delete d.networks["traefik-public"];
      });
      expect(bare.services.web.networks).toEqual(["default", "traefik-public"]);
      expect(bare.networks["traefik-public"]).toEqual({ external: true });
      const renamed = routed({ host: "web", port: 80 }, (d) => {
        d.services.web.networks = { internal: {} };
        d.networks = { proxy: { external: true, name: "traefik-public" }, internal: {} };
      });
      expect(Object.keys(renamed.services.web.networks)).toEqual(["internal", "proxy"]);
      expect(renamed.networks["traefik-public"]).toBeUndefined();
    });

    test("auth: true puts the platform's login after the LAN filter", () => {
      const labels = routed({ host: "prometheus", port: 9090, auth: true }).services.web.deploy.labels;
      expect(labels["traefik.http.routers.demo-web.middlewares"]).toBe("lan-only@file,dashboard-auth@file");
    });

    test("several routes on one service: a router and a Traefik service per port, the first keeping the plain name", () => {
      const doc = validDoc();
      doc.services.web["x-homelab"] = { routes: [{ host: "s3", port: 9000 }, { host: "console", port: 9001, auth: true }] };
      const labels = rendered(doc).services.web.deploy.labels;
      expect(labels["traefik.http.routers.demo-web.rule"]).toBe("Host(`s3.home.arpa`)");
      expect(labels["traefik.http.routers.demo-web.service"]).toBe("demo-web");
      expect(labels["traefik.http.services.demo-web.loadbalancer.server.port"]).toBe("9000");
      expect(labels["traefik.http.routers.demo-web-console.rule"]).toBe("Host(`console.home.arpa`)");
      expect(labels["traefik.http.routers.demo-web-console.service"]).toBe("demo-web-console");
      expect(labels["traefik.http.routers.demo-web-console.middlewares"]).toBe("lan-only@file,dashboard-auth@file");
      expect(labels["traefik.http.services.demo-web-console.loadbalancer.server.port"]).toBe("9001");
      expect(parse(doc).routes?.map((r) => r.host)).toEqual(["s3", "console"]);
    });

    test("route and routes together, an empty routes list and a bad auth are errors with the fix", () => {
      const both = validDoc();
      both.services.web["x-homelab"] = { route: { host: "a", port: 1 }, routes: [{ host: "b", port: 2 }] };
      expect(problems(both)).toEqual([expect.stringMatching(/^services\.web\.x-homelab: has both "route" and "routes"\. Fix: keep one/)]);
      const empty = validDoc();
      empty.services.web["x-homelab"] = { routes: [] };
      expect(problems(empty)).toEqual([expect.stringMatching(/^services\.web\.x-homelab\.routes: expected a list of routes/)]);
      const auth = validDoc();
      auth.services.web["x-homelab"] = { routes: [{ host: "a", port: 1, auth: "yes" }] };
      expect(problems(auth)).toEqual([expect.stringMatching(/^services\.web\.x-homelab\.routes\[0\]\.auth: "yes" is not true or false/)]);
    });

    test("a service without a route gets no Traefik label", () => {
      expect(Object.keys(rendered(validDoc()).services.web.deploy.labels)).toEqual(["homelab.stack"]);
    });
  });
});
