import { PATHS } from "../config/managed";
import { NetworkConfig, NodeConfig } from "../config/schema";
import { IgnitionFile, IgnitionUnit, lines, textFile } from "./types";

/**
 * A static networkd config. Ignition v3 has no network section, so it is a file; the `00-` prefix
 * sorts before Flatcar's DHCP fallback `zz-default.network`, and the default match `en*` finds the
 * Pi 4 NIC (named enabcm6e4ei0 under UEFI/ACPI, never eth0).
 */
export function staticNetworkFile(network: NetworkConfig, node: NodeConfig, domain: string): IgnitionFile {
  const prefix = network.subnet.split("/")[1];
  return textFile(
    PATHS.network,
    lines(
      "[Match]",
      `Name=${network.interfaceMatch}`,
      "",
      "[Network]",
      "DHCP=no",
      `Address=${node.address}/${prefix}`,
      `Gateway=${network.gateway}`,
      ...network.dns.map((d) => `DNS=${d}`),
      `Domains=${domain}`,
      ...network.ntp.map((n) => `NTP=${n}`),
    ),
  );
}

export function hostnameFile(node: NodeConfig): IgnitionFile {
  return textFile(PATHS.hostname, lines(node.name));
}

/**
 * Pulumi dials `sshPort`, so the node must listen there. Flatcar's sshd is socket-activated:
 * the port lives in sshd.socket, and the empty ListenStream= drops the default 22 (Flatcar
 * "Customizing the SSH daemon"). Port 22 needs nothing, so default documents stay unchanged.
 */
export function sshPortUnits(node: NodeConfig): IgnitionUnit[] {
  if (node.sshPort === 22) return [];
  return [{ name: "sshd.socket", dropins: [{ name: "10-homelab-port.conf", contents: lines("[Socket]", "ListenStream=", `ListenStream=${node.sshPort}`) }] }];
}
