import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError } from "./reader";
import { DEFAULT_BACKUP, DEFAULT_JIT, DEFAULT_NETWORKS, DEFAULT_MONITORING, DEFAULTS, NodeConfig } from "./schema";
import { loadStacks } from "./stacks";

const COMPOSE = `services:
  web:
    image: traefik/whoami:v1.10.3
    networks: [NETWORK]
    secrets: [token]
    deploy:
      resources:
        limits: { memory: 32M }
        reservations: { memory: 16M }
networks:
  NETWORK:
    external: true
secrets:
  token:
    x-homelab: { config: demoToken }
`;

function stacksDir(network: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-stacks-"));
  fs.mkdirSync(path.join(root, "stacks", "demo"), { recursive: true });
  fs.writeFileSync(path.join(root, "stacks", "demo", "compose.yml"), COMPOSE.replace(/NETWORK/g, network));
  return path.join(root, "stacks");
}

/** The config loadStacks reads, with `stacks` listed and `nodes` (none: no memory budget to check). */
function cfg(stacks: string[], nodes: NodeConfig[] = []) {
  return {
    domain: "home.arpa",
    network: { subnet: "10.0.0.0/24", gateway: "10.0.0.1", dns: [], interfaceMatch: "en*", ntp: [] },
    platform: { networks: DEFAULT_NETWORKS, stacks, traefik: { internalRanges: [], publicLane: false, dashboardHost: DEFAULTS.dashboardHost }, dns: { upstreams: ["9.9.9.9"] }, monitoring: DEFAULT_MONITORING, jit: DEFAULT_JIT, backup: DEFAULT_BACKUP, gitops: false as const },
    nodes,
  };
}

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.key}: ${i.message}`);
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadStacks", () => {
  test("a stack on a shared network with its config secret set loads", () => {
    const stacks = loadStacks(cfg(["demo"]), stacksDir("traefik-public"), (key) => key === "demoToken");
    expect(stacks.map((s) => [s.name, s.externalNetworks, s.secrets.map((x) => x.key)])).toEqual([["demo", ["traefik-public"], ["token"]]]);
  });

  test("every problem at once: no folder, a network nobody creates, an unset secret, each with its fix", () => {
    const dir = stacksDir("backend");
    expect(problems(() => loadStacks(cfg(["demo", "nope"]), dir, () => false))).toEqual([
      "homelab:platform.stacks[1]: there is no folder stacks/nope. Fix: use one of demo, or add the folder.",
      "stacks/demo/compose.yml: networks.backend: is external, but homelab:platform.networks does not create it. Fix: add {name: backend} to homelab:platform.networks.",
      "stacks/demo/compose.yml: secrets.token: needs homelab:demoToken, which is not set. Fix: pulumi config set --secret homelab:demoToken <value>",
    ]);
  });

  test("a secret may not read one of homelab's own settings", () => {
    const dir = stacksDir("traefik-public");
    fs.writeFileSync(path.join(dir, "demo", "compose.yml"), COMPOSE.replace(/NETWORK/g, "traefik-public").replace("config: demoToken", "config: domain"));
    expect(problems(() => loadStacks(cfg(["demo"]), dir, () => true))).toEqual([
      "stacks/demo/compose.yml: secrets.token: reads homelab:domain, which is a setting of homelab itself, not a secret. Fix: name another key, e.g. demoToken.",
    ]);
  });

  test("a node whose always-on services would reserve more than 75% of its RAM is named, with the fix", () => {
    const dir = stacksDir("traefik-public");
    fs.writeFileSync(path.join(dir, "demo", "compose.yml"), COMPOSE.replace(/NETWORK/g, "traefik-public").replace("memory: 32M", "memory: 1800M").replace("memory: 16M", "memory: 1700M"));
    const node = { name: "pi", role: "manager" as const, address: "10.0.0.2", sshPort: 22, availability: "active" as const, labels: {}, zramMiB: 0, snippets: [], memoryMiB: 2048 };
    expect(problems(() => loadStacks(cfg(["demo"], [node]), dir, () => true))).toEqual([
      expect.stringMatching(/^homelab:nodes\[0\] \(pi\): always-on services would reserve 1700 MiB of its 2048 MiB \(83%/),
    ]);
    expect(loadStacks(cfg(["demo"], [{ ...node, memoryMiB: 4096 }]), dir, () => true)).toHaveLength(1);
  });

  test("a broken compose file is reported by file and key", () => {
    const dir = stacksDir("traefik-public");
    fs.writeFileSync(path.join(dir, "demo", "compose.yml"), COMPOSE.replace(/NETWORK/g, "traefik-public").replace("whoami:v1.10.3", "whoami"));
    const found = problems(() => loadStacks(cfg(["demo"]), dir, () => true));
    expect(found).toEqual([expect.stringMatching(/^stacks\/demo\/compose\.yml: services\.web\.image: .*no version tag.*Fix:/)]);
  });
});
