import { sshPublicKeyProblem } from "../config/sshKey";
import { HomelabConfig } from "../config/schema";
import { validateConfig } from "../config/validate";
import { PATHS } from "../config/managed";
import { cidrContains, parseCidr, parseIpv4 } from "../config/net";
import { DEPLOY_KEY, RawConfig, STACKS, StackName, USER_KEY, ignitionValidate, sshKeygenPair, stackConfig, stackRaw } from "../tests/fixtures";
import { renderClusterIgnition, renderNodeIgnition, serializeIgnition } from "./node";
import { IgnitionConfig } from "./types";

const inputs = { extraAuthorizedKeys: [DEPLOY_KEY] };

function render(stack: StackName, edit?: (raw: RawConfig) => void): Record<string, string> {
  return renderClusterIgnition(stackConfig(stack, edit).config, inputs);
}

function parse(json: string): IgnitionConfig {
  return JSON.parse(json) as IgnitionConfig;
}

/** The text of a file in a rendered document, decoded from its data URL; undefined when absent. */
function fileText(doc: IgnitionConfig, path: string): string | undefined {
  const file = doc.storage.files.find((f) => f.path === path);
  if (!file) return undefined;
  expect(file.contents.source.startsWith("data:,")).toBe(true);
  return decodeURIComponent(file.contents.source.slice("data:,".length));
}

const NODES = ["swarm-manager-1", "swarm-manager-2", "swarm-manager-3", "swarm-worker-1"] as const;
const rendered: Record<StackName, Record<string, string>> = { homelab: render("homelab"), lab: render("lab") };
const everyNode = STACKS.flatMap((stack) => NODES.map((name) => ({ stack, name })));

describe("rendered Ignition of the committed stacks", () => {
  test("both stacks render exactly their four nodes", () => {
    for (const stack of STACKS) expect(Object.keys(rendered[stack])).toEqual([...NODES]);
  });

  test("the ignition-validate check reports warnings, not only errors", () => {
    const doc = parse(rendered.lab["swarm-manager-1"]);
    doc.systemd.units.push({ name: "x.service", enabled: true, contents: "[Service]\nExecStart=/bin/true\n" });
    const result = ignitionValidate(serializeIgnition(doc));
    expect(result.status).toBe(0);
    expect(result.output).toMatch(/warning.*no install section/);
  });

  test.each(everyNode)("$stack $name passes ignition-validate with no warnings", ({ stack, name }) => {
    expect(ignitionValidate(rendered[stack][name])).toEqual({ status: 0, output: "" });
  });

  test("whole document of one node (keys redacted: they are generated per run)", () => {
    const json = rendered.homelab["swarm-worker-1"].split(USER_KEY).join("<owner key>").split(DEPLOY_KEY).join("<deploy key>");
    expect(json).toMatchSnapshot();
  });

  test.each(everyNode)("$stack $name: hostname, static network, core's keys", ({ stack, name }) => {
    const doc = parse(rendered[stack][name]);
    const { config } = stackConfig(stack);
    const node = config.nodes.find((n) => n.name === name)!;
    expect(doc.ignition).toEqual({ version: "3.3.0" });
    expect(fileText(doc, "/etc/hostname")).toBe(`${name}\n`);

    const network = fileText(doc, PATHS.network)!;
    const subnet = parseCidr(config.network.subnet)!;
    expect(cidrContains(subnet, parseIpv4(node.address)!)).toBe(true);
    expect(network).toBe(
      [
        "[Match]",
        "Name=en*",
        "",
        "[Network]",
        "DHCP=no",
        `Address=${node.address}/${subnet.prefix}`,
        `Gateway=${config.network.gateway}`,
        ...config.network.dns.map((d) => `DNS=${d}`),
        `Domains=${config.domain}`,
        "",
      ].join("\n"),
    );
    expect(network).not.toMatch(/eth0/);

    // `core` exists on Flatcar: listing groups would make Ignition try to modify it (flatcar/Flatcar#799).
    expect(doc.passwd.users).toEqual([{ name: "core", sshAuthorizedKeys: [USER_KEY, DEPLOY_KEY] }]);
    expect(doc.passwd.users[0]).not.toHaveProperty("groups");
  });

  test("the homelab stack's network file has both resolvers and the /24", () => {
    const network = fileText(parse(rendered.homelab["swarm-manager-2"]), PATHS.network)!;
    expect(network).toContain("Address=192.168.99.102/24\n");
    expect(network).toContain("Gateway=192.168.99.1\n");
    expect(network).toContain("DNS=192.168.99.1\nDNS=9.9.9.9\n");
  });

  test.each(everyNode)("$stack $name: docker at boot and the Swarm kernel settings", ({ stack, name }) => {
    const doc = parse(rendered[stack][name]);
    expect(doc.systemd.units).toEqual([{ name: "docker.service", enabled: true }]);
    expect(doc.storage.links).toEqual([
      { path: "/etc/systemd/system/multi-user.target.wants/docker.service", target: "/usr/lib/systemd/system/docker.service", hard: false, overwrite: true },
    ]);
    const sysctl = fileText(doc, PATHS.sysctl)!;
    expect(sysctl).toContain("net.ipv4.ip_forward = 1\n");
    expect(sysctl).toContain("net.bridge.bridge-nf-call-iptables = 1\n");
    expect(sysctl).toContain("net.ipv4.conf.all.rp_filter = 2\n");
    expect(fileText(doc, PATHS.modules)!.split("\n")).toEqual(expect.arrayContaining(["br_netfilter", "overlay", "vxlan", "ip_vs"]));
    // dockerd's metrics on the node's own LAN address, where the monitoring stack scrapes every node.
    const address = stackConfig(stack).config.nodes.find((n) => n.name === name)!.address;
    expect(JSON.parse(fileText(doc, PATHS.dockerDaemon)!)).toEqual({ "metrics-addr": `${address}:9323` });
    for (const file of doc.storage.files) expect(file).toMatchObject({ mode: 0o644, overwrite: true });
  });

  test("homelab: staggered windows give the three managers three different weekdays, the worker the next", () => {
    const starts = NODES.map((name) => {
      const conf = fileText(parse(rendered.homelab[name]), PATHS.updateConf)!;
      expect(conf).toMatch(/^GROUP=stable\nREBOOT_STRATEGY=reboot\n/);
      expect(conf).toContain("LOCKSMITHD_REBOOT_WINDOW_LENGTH=1h\n");
      return /^LOCKSMITHD_REBOOT_WINDOW_START="(\w{3}) 03:00"$/m.exec(conf)?.[1];
    });
    expect(starts).toEqual(["Mon", "Tue", "Wed", "Thu"]);
  });

  test("lab: the off strategy writes REBOOT_STRATEGY=off and no window", () => {
    for (const name of NODES) {
      expect(fileText(parse(rendered.lab[name]), PATHS.updateConf)).toBe("GROUP=stable\nREBOOT_STRATEGY=off\n");
    }
  });

  test("the reboot strategy gives every node the same window", () => {
    const docs = render("homelab", (c) => Object.assign(c.updates, { rebootStrategy: "reboot", windowStart: "Sun 04:30", windowLength: "90m" }));
    for (const name of NODES) {
      expect(fileText(parse(docs[name]), PATHS.updateConf)).toBe(
        "GROUP=stable\nREBOOT_STRATEGY=reboot\nLOCKSMITHD_REBOOT_WINDOW_START=Sun 04:30\nLOCKSMITHD_REBOOT_WINDOW_LENGTH=90m\n",
      );
    }
  });

  test("zram only on the node that asks for it", () => {
    for (const name of NODES) {
      const zram = fileText(parse(rendered.homelab[name]), PATHS.zram);
      if (name === "swarm-worker-1") expect(zram).toBe("[zram0]\nzram-size = 1024\nswap-priority = 100\n");
      else expect(zram).toBeUndefined();
      expect(fileText(parse(rendered.lab[name]), PATHS.zram)).toBeUndefined();
    }
    const sized = render("lab", (c) => void (c.nodes[1].zram = 512));
    expect(fileText(parse(sized["swarm-manager-2"]), PATHS.zram)).toContain("zram-size = 512\n");
  });

  test("kernel arguments only for arm64 (the Pis), none for the amd64 lab", () => {
    for (const name of NODES) {
      expect(parse(rendered.homelab[name]).kernelArguments).toEqual({ shouldExist: ["usbcore.autosuspend=-1"] });
      expect(parse(rendered.lab[name])).not.toHaveProperty("kernelArguments");
    }
  });

  test("a non-default sshPort moves sshd.socket there, so Pulumi can dial it", () => {
    const docs = render("homelab", (c) => void (c.nodes[3].sshPort = 2222));
    const worker = parse(docs["swarm-worker-1"]);
    expect(worker.systemd.units).toEqual([
      { name: "docker.service", enabled: true },
      { name: "sshd.socket", dropins: [{ name: "10-homelab-port.conf", contents: "[Socket]\nListenStream=\nListenStream=2222\n" }] },
    ]);
    expect(ignitionValidate(docs["swarm-worker-1"])).toEqual({ status: 0, output: "" });
    expect(docs["swarm-manager-1"]).toBe(rendered.homelab["swarm-manager-1"]);
  });

  test("ntp servers become NTP= lines", () => {
    const docs = render("lab", (c) => void (c.network.ntp = ["10.213.99.1", "pool.ntp.org"]));
    expect(fileText(parse(docs["swarm-worker-1"]), PATHS.network)).toMatch(/Domains=lab\.home\.arpa\nNTP=10\.213\.99\.1\nNTP=pool\.ntp\.org\n$/);
  });
});

describe("snippets", () => {
  const withSnippets = (c: RawConfig) => {
    c.snippets = [
      {
        files: [{ path: "/etc/motd.d/homelab.conf", contents: "managed by homelab\n" }],
        units: [
          { name: "docker.service", dropins: [{ name: "10-limits.conf", contents: "[Service]\nLimitNOFILE=1048576\n" }] },
          { name: "backup.timer", enabled: true, contents: "[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n" },
        ],
      },
    ];
    c.nodes[3].snippets = [
      {
        files: [{ path: "/opt/bin/backup", contents: "#!/bin/sh\nexit 0\n", mode: "0755" }],
        units: [
          { name: "docker.service", dropins: [{ name: "20-storage.conf", contents: "[Service]\nEnvironment=X=1\n" }] },
          { name: "backup.timer", dropins: [{ name: "10-when.conf", contents: "[Timer]\nOnCalendar=weekly\n" }] },
        ],
      },
    ];
  };
  const docs = render("homelab", withSnippets);
  const plain = parse(rendered.homelab["swarm-worker-1"]);

  test.each(NODES)("%s with snippets passes ignition-validate with no warnings", (name) => {
    expect(ignitionValidate(docs[name])).toEqual({ status: 0, output: "" });
  });

  test("files are appended after homelab's own, node snippets after cluster snippets", () => {
    const worker = parse(docs["swarm-worker-1"]);
    expect(worker.storage.files.map((f) => f.path)).toEqual([...plain.storage.files.map((f) => f.path), "/etc/motd.d/homelab.conf", "/opt/bin/backup"]);
    expect(worker.storage.files.find((f) => f.path === "/opt/bin/backup")?.mode).toBe(0o755);
    expect(fileText(worker, "/opt/bin/backup")).toBe("#!/bin/sh\nexit 0\n");
    const manager = parse(docs["swarm-manager-1"]);
    expect(manager.storage.files.map((f) => f.path)).toContain("/etc/motd.d/homelab.conf");
    expect(manager.storage.files.map((f) => f.path)).not.toContain("/opt/bin/backup");
  });

  test("unit drop-ins merge into docker.service without replacing it", () => {
    const worker = parse(docs["swarm-worker-1"]);
    expect(worker.systemd.units).toEqual([
      {
        name: "docker.service",
        enabled: true,
        dropins: [
          { name: "10-limits.conf", contents: "[Service]\nLimitNOFILE=1048576" },
          { name: "20-storage.conf", contents: "[Service]\nEnvironment=X=1" },
        ],
      },
      {
        name: "backup.timer",
        enabled: true,
        contents: "[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n",
        dropins: [{ name: "10-when.conf", contents: "[Timer]\nOnCalendar=weekly" }],
      },
    ]);
    expect(parse(docs["swarm-manager-1"]).systemd.units[0]).toEqual({
      name: "docker.service",
      enabled: true,
      dropins: [{ name: "10-limits.conf", contents: "[Service]\nLimitNOFILE=1048576" }],
    });
    // The wants link that starts docker at boot stays.
    expect(worker.storage.links).toEqual(plain.storage.links);
  });

  test("a node's drop-in of the same name wins over the cluster's", () => {
    const docs2 = render("homelab", (c) => {
      withSnippets(c);
      c.nodes[0].snippets = [{ units: [{ name: "docker.service", dropins: [{ name: "10-limits.conf", contents: "[Service]\nLimitNOFILE=4096\n" }] }] }];
    });
    const doc = parse(docs2["swarm-manager-1"]);
    expect(doc.systemd.units[0].dropins).toEqual([{ name: "10-limits.conf", contents: "[Service]\nLimitNOFILE=4096" }]);
    expect(ignitionValidate(docs2["swarm-manager-1"])).toEqual({ status: 0, output: "" });
  });
});

describe("determinism and secrets", () => {
  test("rendering twice gives byte-identical documents", () => {
    for (const stack of STACKS) expect(render(stack)).toEqual(rendered[stack]);
  });

  test("serialized form: sorted keys, two-space indent, trailing newline", () => {
    const json = rendered.lab["swarm-manager-1"];
    expect(json.endsWith("}\n")).toBe(true);
    expect(Object.keys(JSON.parse(json))).toEqual(["ignition", "passwd", "storage", "systemd"]);
    expect(json).toContain('\n  "ignition": {\n    "version": "3.3.0"\n  },\n');
    const { config } = stackConfig("lab");
    expect(serializeIgnition(renderNodeIgnition(config, config.nodes[0], inputs))).toBe(json);
  });

  test("with reboots off, reordering nodes changes no node's document", () => {
    const reversed = render("lab", (c) => c.nodes.reverse());
    expect(reversed).toEqual(rendered.lab);
  });

  test("with staggered reboots, reordering managers changes only update.conf (the weekdays follow manager order)", () => {
    const reversed = render("homelab", (c) => c.nodes.reverse());
    const withoutUpdateConf = (json: string) => {
      const doc = parse(json);
      return { ...doc, storage: { ...doc.storage, files: doc.storage.files.filter((f) => f.path !== PATHS.updateConf) } };
    };
    const days: Record<string, string> = {};
    for (const name of NODES) {
      expect(withoutUpdateConf(reversed[name])).toEqual(withoutUpdateConf(rendered.homelab[name]));
      days[name] = /"(\w{3}) 03:00"/.exec(fileText(parse(reversed[name]), PATHS.updateConf)!)![1];
    }
    // Managers come first in reversed config order; the worker still follows them.
    expect(days).toEqual({ "swarm-manager-3": "Mon", "swarm-manager-2": "Tue", "swarm-manager-1": "Wed", "swarm-worker-1": "Thu" });
  });

  test("with staggered reboots, moving a worker among the managers changes nothing", () => {
    const moved = render("homelab", (c) => c.nodes.unshift(c.nodes.pop()!));
    expect(moved).toEqual(rendered.homelab);
  });

  test("a key given both in config and as a deploy key is listed once", () => {
    const { config } = stackConfig("lab");
    const doc = renderNodeIgnition(config, config.nodes[0], { extraAuthorizedKeys: [` ${USER_KEY} `] });
    expect(doc.passwd.users[0].sshAuthorizedKeys).toEqual([USER_KEY]);
  });

  test("no secret material in any rendered document", () => {
    const { publicKey, privateKey } = sshKeygenPair();
    const raw = stackRaw("homelab");
    raw.ssh.authorizedKeys = [publicKey];
    const config: HomelabConfig = validateConfig(raw).config;
    const privateBody = privateKey.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
    for (const json of [...Object.values(renderClusterIgnition(config, inputs)), ...Object.values(rendered.homelab), ...Object.values(rendered.lab)]) {
      expect(json).not.toMatch(/PRIVATE KEY/);
      for (const line of privateBody) expect(json).not.toContain(line);
      for (const key of parse(json).passwd.users[0].sshAuthorizedKeys) expect(sshPublicKeyProblem(key)).toBeUndefined();
    }
  });
});
