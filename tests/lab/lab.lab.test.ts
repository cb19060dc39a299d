/**
 * The lab itself: every node is a separate machine that `core` logs into over real SSH with the lab
 * key and strict host-key checking, provisioned by the real Ignition engine, with its own docker and
 * filesystem, reaching the other nodes and nothing else.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { YAMLMap, YAMLSeq, parseDocument } from "yaml";
import { minimalIgnition } from "../../lab/fixture";
import { Inventory, nodeExec, rebuildNode, sshExec, startNode, stopNode, withLabKey } from "../../lab/lab";
import { ensureLab, provisionedIgnition, seconds, ssh } from "./helpers";

let inv: Inventory;

beforeAll(async () => {
  inv = await ensureLab();
});

describe("inventory", () => {
  test("lists every node of Pulumi.lab.yaml with the lab key and known_hosts", () => {
    expect(inv.nodes.map((n) => [n.name, n.role, n.address])).toEqual([
      ["swarm-manager-1", "manager", "10.213.99.101"],
      ["swarm-manager-2", "manager", "10.213.99.102"],
      ["swarm-manager-3", "manager", "10.213.99.103"],
      ["swarm-worker-1", "worker", "10.213.99.111"],
    ]);
    for (const n of inv.nodes) {
      expect(n.user).toBe("core");
      expect(n.port).toBe(22);
      expect(path.isAbsolute(n.privateKeyPath)).toBe(true);
      expect(fs.statSync(n.privateKeyPath).mode & 0o777).toBe(0o600);
      expect(n.knownHostsPath).toBe(inv.knownHostsPath);
    }
    const known = fs.readFileSync(inv.knownHostsPath, "utf8");
    for (const n of inv.nodes) expect(known).toContain(`${n.address},${n.name} ssh-ed25519 `);
  });
});

describe("each node", () => {
  test("core logs in over SSH with the lab key; the host key is checked strictly", async () => {
    for (const n of inv.nodes) {
      expect(await ssh(n, "id -un; id -u; hostname")).toBe(`core\n500\n${n.name}`);
    }
    // Negative control: with an empty known_hosts the same login must fail (strict checking is on).
    const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lab-kh-")), "known_hosts");
    fs.writeFileSync(empty, "");
    const r = await sshExec(inv.nodes[0], "true", { sshOptions: ["-o", `UserKnownHostsFile=${empty}`] });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Host key verification failed|No (ED25519|[A-Z0-9]+) host key is known/);
    fs.rmSync(path.dirname(empty), { recursive: true, force: true });
  });

  test("the host key in known_hosts is the one the node generated at first boot", async () => {
    const known = fs.readFileSync(inv.knownHostsPath, "utf8");
    const seen = new Set<string>();
    for (const n of inv.nodes) {
      const pub = (await nodeExec(n.name, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])).stdout.split(" ").slice(0, 2).join(" ");
      expect(known).toContain(`${n.address},${n.name} ${pub}`);
      seen.add(pub);
    }
    expect(seen.size).toBe(inv.nodes.length);
  });

  test("has what Ignition asked for: files, links, units", async () => {
    for (const n of inv.nodes) {
      const ign = provisionedIgnition(n.name);
      expect(ign.files.map((f) => f.path)).toContain("/etc/hostname");
      for (const f of ign.files) {
        const onNode = await ssh(n, `sudo -n base64 -w0 ${f.path}`);
        if (f.path === "/etc/hosts") {
          // The lab appends its registry block (image pulls fail fast); Ignition's content comes first.
          expect(Buffer.from(onNode, "base64").toString().startsWith(f.contents.toString())).toBe(true);
        } else {
          expect({ path: f.path, contents: Buffer.from(onNode, "base64").toString() }).toEqual({ path: f.path, contents: f.contents.toString() });
        }
        if (f.mode !== undefined) {
          expect({ path: f.path, mode: await ssh(n, `sudo -n stat -c %a ${f.path}`) }).toEqual({ path: f.path, mode: (f.mode & 0o7777).toString(8) });
        }
      }
      for (const l of ign.links) {
        expect(await ssh(n, `readlink ${l.path}`)).toBe(l.target);
      }
      for (const u of ign.units) {
        if (u.contents !== undefined) {
          expect(await ssh(n, `cat /etc/systemd/system/${u.name}`)).toBe(u.contents.trim());
        }
        for (const d of u.dropins ?? []) {
          if (d.contents !== undefined) expect(await ssh(n, `cat /etc/systemd/system/${u.name}.d/${d.name}`)).toBe(d.contents.trim());
        }
        if (u.enabled === true) expect({ unit: u.name, state: await ssh(n, `systemctl is-enabled ${u.name}`) }).toEqual({ unit: u.name, state: "enabled" });
        if (u.mask === true) expect(await ssh(n, `systemctl is-enabled ${u.name} || true`)).toBe("masked");
      }
      // Ignition's key file, the way Flatcar's sshd finds it.
      expect(await ssh(n, "cat ~/.ssh/authorized_keys.d/ignition")).toContain(fs.readFileSync(`${n.privateKeyPath}.pub`, "utf8").split(" ")[1]);
    }
  });

  test("boots clean: systemd running, no failed units, docker and ssh active", async () => {
    for (const n of inv.nodes) {
      const state = await sshExec(n, "systemctl is-system-running --wait");
      const failed = await ssh(n, "systemctl --failed --no-legend --plain");
      expect({ node: n.name, state: state.stdout.trim(), failed }).toEqual({ node: n.name, state: "running", failed: "" });
      expect(await ssh(n, "systemctl is-active docker.service sshd.socket")).toBe("active\nactive");
    }
  });

  test("is Flatcar-like: core uid 500 in docker and sudo, passwordless sudo, docker without sudo", async () => {
    for (const n of inv.nodes) {
      const groups = (await ssh(n, "id -Gn")).split(" ");
      expect(groups).toEqual(expect.arrayContaining(["core", "docker", "sudo"]));
      expect(await ssh(n, "sudo -n id -u")).toBe("0");
      expect(await ssh(n, "docker info --format '{{.ServerVersion}} {{.Driver}}'")).toMatch(/^\S+ overlay2$/);
      expect(await ssh(n, "docker run --help >/dev/null && echo ok")).toBe("ok");
    }
  });

  test("has its own machine-id", async () => {
    const ids = await Promise.all(inv.nodes.map((n) => ssh(n, "cat /etc/machine-id")));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(inv.nodes.length);
  });
});

describe("network", () => {
  test("nodes reach each other (ICMP and TCP 22)", async () => {
    for (const a of inv.nodes) {
      const others = inv.nodes.filter((b) => b !== a).map((b) => b.address);
      const out = await ssh(a, others.map((ip) => `ping -c1 -W2 ${ip} >/dev/null && nc -z -w2 ${ip} 22 && echo ok-${ip}`).join("; "));
      expect(out.split("\n")).toEqual(others.map((ip) => `ok-${ip}`));
    }
  });

  test("nodes reach nothing outside the lab, and fail fast (no traffic leaves the machine)", async () => {
    const n = inv.nodes[3];
    // TEST-NET-2/3 addresses and the host's side of the bridge: refused at once by the lab firewall.
    for (const target of ["198.51.100.1:80", "203.0.113.1:443", "10.213.99.1:22"]) {
      const [host, port] = target.split(":");
      // Timed on the node, so a slow SSH login on a loaded CI machine does not count: a dropped
      // packet would show as nc's 3 s timeout, a REJECT answers in milliseconds.
      const r = await sshExec(n, `t0=$(date +%s%N); nc -z -w3 ${host} ${port}; rc=$?; echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))"`);
      const [code, millis] = r.stdout.trim().split(" ").map(Number);
      expect({ target, code }).toEqual({ target, code: 1 });
      expect(millis).toBeLessThan(2000);
    }
    const ping = await sshExec(n, "ping -c1 -W3 198.51.100.1");
    expect(ping.code).not.toBe(0);
    expect(ping.stdout).toMatch(/Prohibited|Unreachable/i);
  });

  test("image pulls fail at once (no registry is reachable)", async () => {
    const t0 = Date.now();
    const r = await sshExec(inv.nodes[0], "docker pull busybox:latest");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/connection refused|no such host/);
    expect(seconds(t0)).toBeLessThan(5);
  });
});

describe("isolation", () => {
  test("nodes share no filesystem: a file or volume made on one is absent on the others", async () => {
    const token = crypto.randomBytes(6).toString("hex");
    const [a, ...rest] = inv.nodes;
    await ssh(a, `echo ${token} > ~/probe-${token}; sudo -n sh -c 'echo ${token} > /var/tmp/probe-${token}'; docker volume create probe-${token} >/dev/null`);
    for (const b of rest) {
      expect(await ssh(b, `ls ~/probe-${token} /var/tmp/probe-${token} 2>/dev/null | wc -l; docker volume ls -q | grep -c probe-${token} || true`)).toBe("0\n0");
    }
    await ssh(a, `rm -f ~/probe-${token}; sudo -n rm -f /var/tmp/probe-${token}; docker volume rm probe-${token} >/dev/null`);
  });
});

describe("node lifecycle", () => {
  test("stopNode / startNode: down then back with the same identity (nothing wiped)", async () => {
    const n = inv.nodes[3];
    const before = await ssh(n, "cat /etc/machine-id; echo kept > ~/lifecycle-probe");
    await stopNode(n.name);
    expect((await sshExec(n, "true", { sshOptions: ["-o", "ConnectTimeout=2"] })).code).toBe(255);
    await startNode(n.name);
    expect(await ssh(n, "cat /etc/machine-id; cat ~/lifecycle-probe")).toBe(`${before}\nkept`);
    await ssh(n, "rm -f ~/lifecycle-probe");
  });

  test("rebuildNode: a new machine (new machine-id, new host key, data gone), reachable with strict checking", async () => {
    const n = inv.nodes[3];
    const hostKey = async () => (await nodeExec(n.name, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])).stdout.split(" ")[1];
    const idBefore = await ssh(n, "cat /etc/machine-id; docker volume create rebuild-probe >/dev/null; touch ~/rebuild-probe");
    const keyBefore = await hostKey();
    const t0 = Date.now();
    await rebuildNode(n.name);
    process.stderr.write(`[lab] rebuildNode ${n.name}: ${seconds(t0).toFixed(1)} s\n`);
    const idAfter = await ssh(n, "cat /etc/machine-id");
    const keyAfter = await hostKey();
    expect(idAfter).toMatch(/^[0-9a-f]{32}$/);
    expect(idAfter).not.toBe(idBefore);
    expect(keyAfter).not.toBe(keyBefore);
    expect(fs.readFileSync(inv.knownHostsPath, "utf8")).toContain(keyAfter);
    expect(fs.readFileSync(inv.knownHostsPath, "utf8")).not.toContain(keyBefore);
    expect(await ssh(n, "ls ~/rebuild-probe 2>/dev/null | wc -l; docker volume ls -q | grep -c rebuild-probe || true")).toBe("0\n0");
    expect(await ssh(n, "hostname")).toBe(n.name);
  });
});

describe("provisioning from pre-rendered Ignition (HOMELAB_LAB_IGNITION_DIR)", () => {
  test("uses <dir>/<node>.ign, merging the lab key into a copy (the source stays as it was)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-ign-"));
    try {
      for (const n of inv.nodes) fs.writeFileSync(path.join(dir, `${n.name}.ign`), JSON.stringify(minimalIgnition(n.name)));
      const sources = inv.nodes.map((n) => fs.readFileSync(path.join(dir, `${n.name}.ign`), "utf8"));
      const prev = process.env.HOMELAB_LAB_IGNITION_DIR;
      process.env.HOMELAB_LAB_IGNITION_DIR = dir;
      try {
        await ensureLab();
      } finally {
        if (prev === undefined) delete process.env.HOMELAB_LAB_IGNITION_DIR;
        else process.env.HOMELAB_LAB_IGNITION_DIR = prev;
      }
      expect(inv.nodes.map((n) => fs.readFileSync(path.join(dir, `${n.name}.ign`), "utf8"))).toEqual(sources);
      for (const n of inv.nodes) {
        // The fixture's marker file proves this config, not the renderer's, was applied.
        expect(await ssh(n, "cat /etc/homelab/lab-fixture; echo; hostname")).toBe(`fixture\n${n.name}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await ensureLab(); // back to the rendered configs for the next tests
    }
  });

  test("withLabKey adds the key once and leaves the input untouched", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake lab";
    const input = { ignition: { version: "3.3.0" }, passwd: { users: [{ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAAother x"] }] } };
    const snapshot = JSON.stringify(input);
    const once = withLabKey(input, key);
    expect(JSON.stringify(input)).toBe(snapshot);
    expect(once.passwd?.users?.[0].sshAuthorizedKeys).toEqual(["ssh-ed25519 AAAAother x", key]);
    expect(withLabKey(once, `${key.split(" ").slice(0, 2).join(" ")} other-comment`)).toEqual(once);
    expect(withLabKey({ ignition: { version: "3.3.0" } }, key).passwd?.users).toEqual([{ name: "core", sshAuthorizedKeys: [key] }]);
  });
});

describe("a node's sshPort (Flatcar-like socket-activated sshd)", () => {
  test("Ignition's sshd.socket drop-in moves sshd, and the inventory says so", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cfg-"));
    const config = path.join(dir, "Pulumi.lab.yaml");
    const doc = parseDocument(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.lab.yaml"), "utf8"));
    const nodes = doc.getIn(["config", "homelab:nodes"]) as YAMLSeq;
    const worker = nodes.items.findIndex((n) => (n as YAMLMap).get("name") === "swarm-worker-1");
    doc.setIn(["config", "homelab:nodes", worker, "sshPort"], 2222);
    fs.writeFileSync(config, doc.toString());
    const prev = process.env.HOMELAB_LAB_CONFIG;
    process.env.HOMELAB_LAB_CONFIG = config;
    try {
      const moved = await ensureLab();
      const w = moved.nodes.find((n) => n.name === "swarm-worker-1")!;
      expect(w.port).toBe(2222);
      expect(await ssh(w, "hostname; systemctl is-active sshd.socket")).toBe("swarm-worker-1\nactive");
      expect((await sshExec({ ...w, port: 22 }, "true")).code).toBe(255);
    } finally {
      if (prev === undefined) delete process.env.HOMELAB_LAB_CONFIG;
      else process.env.HOMELAB_LAB_CONFIG = prev;
      fs.rmSync(dir, { recursive: true, force: true });
      await ensureLab();
    }
  });
});
