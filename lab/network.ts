/** The lab network: an internal docker bridge for the nodes, fenced off from the host by iptables. */
import { cidrsOverlap, networkOf, parseCidr } from "../config/net";
import { LAB, LabSpec } from "./config";
import { run } from "./exec";
import { docker } from "./host";
import { removeContainers } from "./nodes";

const iptables = (args: string[]) => run("iptables", ["-w", ...args], { allowFail: true });

export async function ensureNetwork(spec: LabSpec): Promise<void> {
  const insp = await docker(["network", "inspect", LAB.network, "--format", "{{json .}}"], { allowFail: true });
  if (insp.code === 0) {
    const net = JSON.parse(insp.stdout) as {
      Internal: boolean;
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
      Options: Record<string, string>;
    };
    const cfg = net.IPAM.Config[0];
    if (
      net.Internal &&
      cfg?.Subnet === spec.subnet &&
      cfg?.Gateway === spec.gateway &&
      net.Options["com.docker.network.bridge.name"] === LAB.bridge
    ) {
      return;
    }
    await removeContainers();
    await docker(["network", "rm", LAB.network]);
  }
  // A leftover interface in the same subnet silently breaks routing to the nodes: refuse.
  const subnet = parseCidr(spec.subnet);
  if (subnet === undefined) throw new Error(`lab subnet ${spec.subnet} is not a network in CIDR form`);
  const addrs = await run("ip", ["-o", "-4", "addr", "show"]);
  for (const line of addrs.stdout.split("\n")) {
    const m = line.match(/^\d+:\s+(\S+)\s+inet\s+(\S+)/);
    if (!m || m[1] === LAB.bridge) continue;
    // A point-to-point address shows no prefix ("inet 10.0.0.1 peer 10.0.0.2/32"): it is one address.
    const network = networkOf(m[2].includes("/") ? m[2] : `${m[2]}/32`);
    if (network === undefined) throw new Error(`cannot read interface ${m[1]}'s address ${m[2]} from ip addr`);
    if (cidrsOverlap(network, subnet)) {
      throw new Error(`interface ${m[1]} (${m[2]}) overlaps the lab subnet ${spec.subnet}: remove it first`);
    }
  }
  await docker([
    "network", "create", "--driver", "bridge", "--internal",
    "--subnet", spec.subnet, "--gateway", spec.gateway,
    "-o", `com.docker.network.bridge.name=${LAB.bridge}`,
    "--label", `${LAB.label}=network`,
    LAB.network,
  ]);
}

/**
 * Nodes reach each other and nothing else: what they send to the host or beyond is REJECTed
 * (not dropped), so a stray connection fails at once instead of timing out. Replies to the host's
 * own connections (SSH from the tests) pass.
 */
export async function ensureFirewall(): Promise<void> {
  const br = LAB.bridge;
  const chains: Array<[string, string, string[][]]> = [
    [LAB.chainIn, "INPUT", [
      ["-i", br, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
      ["-i", br, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
      ["-i", br, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
    ]],
    [LAB.chainFwd, "FORWARD", [
      ["-i", br, "-o", br, "-j", "RETURN"],
      ["-i", br, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
      ["-i", br, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
      ["-o", br, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
    ]],
  ];
  for (const [chain, parent, rules] of chains) {
    await iptables(["-N", chain]);
    await iptables(["-F", chain]);
    for (const r of rules) {
      const res = await iptables(["-A", chain, ...r]);
      if (res.code !== 0) throw new Error(`iptables -A ${chain} ${r.join(" ")}: ${res.stderr}`);
    }
    if ((await iptables(["-C", parent, "-j", chain])).code !== 0) {
      const res = await iptables(["-I", parent, "1", "-j", chain]);
      if (res.code !== 0) throw new Error(`iptables -I ${parent} -j ${chain}: ${res.stderr}`);
    }
  }
}

/**
 * Lets the nodes reach one TCP port of the host on the bridge: a test's stand-in for a machine on
 * the LAN (the owner's NAS with its S3 bucket, a git server, an ntfy server). Only that port, only
 * on the bridge's own address; the rule goes with the chain when the lab goes down.
 */
export async function allowNodesToHostPort(spec: Pick<LabSpec, "gateway">, port: number): Promise<void> {
  const rule = ["-i", LAB.bridge, "-d", spec.gateway, "-p", "tcp", "--dport", String(port), "-j", "RETURN"];
  if ((await iptables(["-C", LAB.chainIn, ...rule])).code === 0) return;
  // Before the REJECTs, after the rule that passes replies.
  const res = await iptables(["-I", LAB.chainIn, "2", ...rule]);
  if (res.code !== 0) throw new Error(`iptables -I ${LAB.chainIn} ${rule.join(" ")}: ${res.stderr}`);
}

export async function removeFirewall(): Promise<void> {
  for (const [chain, parent] of [[LAB.chainIn, "INPUT"], [LAB.chainFwd, "FORWARD"]]) {
    for (let i = 0; i < 10 && (await iptables(["-C", parent, "-j", chain])).code === 0; i++) {
      await iptables(["-D", parent, "-j", chain]);
    }
    await iptables(["-F", chain]);
    await iptables(["-X", chain]);
  }
}
