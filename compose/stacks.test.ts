import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { listStacks, loadStack } from "./load";
import { contentFingerprint, objectName } from "./names";
import { renderStack, STACK_LABEL } from "./render";
import { StackSource } from "./types";

/** The real stacks/ folder: every stack in it must load and render, as `pulumi up` will do. */
const STACKS = path.resolve(__dirname, "..", "stacks");
const stacks = listStacks(STACKS);

function renderWithNames(source: StackSource): string {
  return renderStack(source, {
    secrets: Object.fromEntries(source.secrets.map((s) => [s.key, objectName(source.name, s.key, "00000000")])),
    configs: Object.fromEntries(source.configs.map((c) => [c.key, objectName(source.name, c.key, contentFingerprint(c.content))])),
  }, { domain: "home.arpa" });
}

test("stacks/ holds the smoke stack and the platform's Traefik", () => {
  expect(stacks).toEqual(expect.arrayContaining(["traefik", "whoami"]));
});

test.each(stacks)("stacks/%s loads and renders, every service labelled", (name) => {
  const source = loadStack(path.join(STACKS, name));
  const out = YAML.parse(renderWithNames(source));
  expect(Object.keys(out.services)).toEqual(source.services);
  for (const service of Object.values(out.services) as any[]) expect(service.deploy.labels[STACK_LABEL]).toBe(name);
});

test("the smoke stack has a generated secret, a config from index.txt, the external traefik-public and its memory", () => {
  const source = loadStack(path.join(STACKS, "whoami"));
  expect(source.secrets).toEqual([{ key: "whoami_secret", source: { kind: "random", length: 32 } }]);
  expect(source.configs.map((c) => [c.key, c.content])).toEqual([["index_txt", fs.readFileSync(path.join(STACKS, "whoami", "index.txt"), "utf8")]]);
  expect(source.externalNetworks).toEqual(["traefik-public"]);
  expect(source.memory).toEqual({ whoami: { limit: 32 * 1024 ** 2, reservation: 16 * 1024 ** 2 } });
});

// `docker stack deploy` validates the file before it dials the daemon, so a dead socket shows
// whether Docker's own loader accepts it: every docker CLI on PATH is asked (here the 28.x client
// and Debian 12's 20.10, the one the lab's nodes run, which is stricter: version required, <= 3.9).
const dockerClis = [
  ...new Set(
    (process.env.PATH ?? "")
      .split(path.delimiter)
      .map((dir) => path.join(dir, "docker"))
      .filter((file) => fs.existsSync(file))
      .map((file) => fs.realpathSync(file)),
  ),
];
const cases = stacks.flatMap((name) => dockerClis.map((cli) => [name, cli]));

(cases.length > 0 ? test.each(cases) : test.skip.each([["(no docker CLI on PATH)", ""]]))("docker stack deploy's loader accepts the rendered stacks/%s (%s)", (name, cli) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-docker-"));
  try {
    const file = path.join(dir, `${name}.yml`);
    fs.writeFileSync(file, renderWithNames(loadStack(path.join(STACKS, name))));
    const run = spawnSync(cli, ["stack", "deploy", "-c", file, name], {
      encoding: "utf8",
      env: { ...process.env, DOCKER_HOST: `unix://${path.join(dir, "no-daemon.sock")}`, DOCKER_CONTEXT: "" },
    });
    const output = `${run.stdout}${run.stderr}`;
    expect(output).not.toMatch(/Ignoring unsupported options|Additional property|must be|unsupported Compose file version/);
    expect(output).toMatch(/Cannot connect to the Docker daemon/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
