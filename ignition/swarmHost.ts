import { PATHS, UNITS } from "../config/managed";
import { NodeConfig } from "../config/schema";
import { IgnitionFile, IgnitionLink, IgnitionUnit, lines, textFile } from "./types";

/**
 * Kernel settings Swarm overlay networks need: forwarding between the overlay and bridges,
 * bridged traffic through iptables (Swarm's own rules), VXLAN for the data plane and IPVS for
 * service VIPs and the routing mesh. Loaded at boot so the first `swarm join` does not race them.
 */
export function swarmKernelFiles(): IgnitionFile[] {
  return [
    textFile(PATHS.modules, lines("br_netfilter", "overlay", "vxlan", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "xt_ipvs")),
    textFile(
      PATHS.sysctl,
      lines(
        "net.ipv4.ip_forward = 1",
        "net.bridge.bridge-nf-call-iptables = 1",
        "net.bridge.bridge-nf-call-ip6tables = 1",
        // Strict reverse-path filtering drops VXLAN replies that arrive on the overlay interface.
        "net.ipv4.conf.all.rp_filter = 2",
        "net.ipv4.conf.default.rp_filter = 2",
      ),
    ),
  ];
}

/**
 * Docker is socket-activated on Flatcar; a swarm node must start it at boot, which since 3761
 * takes both the enabled unit and the wants link (Flatcar "getting started with docker").
 */
export function dockerAtBoot(): { unit: IgnitionUnit; link: IgnitionLink } {
  return {
    unit: { name: UNITS.docker, enabled: true },
    link: { path: PATHS.dockerWants, target: "/usr/lib/systemd/system/docker.service", hard: false, overwrite: true },
  };
}

/** zram swap for 2 GB Pis; Flatcar ships zram-generator, whose default algorithm (lzo-rle) is the one its kernel has. */
export function zramFiles(node: NodeConfig): IgnitionFile[] {
  if (node.zramMiB <= 0) return [];
  return [textFile(PATHS.zram, lines("[zram0]", `zram-size = ${node.zramMiB}`, "swap-priority = 100"))];
}

/** Where each node's dockerd serves its Prometheus metrics (stacks/monitoring scrapes it as docker-engine). */
export const DOCKER_METRICS_PORT = 9323;

/**
 * dockerd's own settings. Its metrics (container states, actions, Swarm's view from a manager)
 * are served on the node's LAN address, where Prometheus reaches every node, up or down, from the
 * node list Swarm gives it; not on 0.0.0.0, which would add every bridge and overlay gateway.
 * Metrics left experimental in Docker 20.10 (moby#40427), so no other setting is needed.
 */
export function dockerDaemonFile(node: NodeConfig): IgnitionFile {
  return textFile(PATHS.dockerDaemon, `${JSON.stringify({ "metrics-addr": `${node.address}:${DOCKER_METRICS_PORT}` }, null, 2)}\n`);
}
