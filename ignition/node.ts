import { HomelabConfig, NodeConfig } from "../config/schema";
import { hostnameFile, sshPortUnits, staticNetworkFile } from "./network";
import { applySnippets } from "./snippets";
import { dockerAtBoot, dockerDaemonFile, swarmKernelFiles, zramFiles } from "./swarmHost";
import { IGNITION_VERSION, IgnitionConfig } from "./types";
import { updateConfFile } from "./updates";

/**
 * Raspberry Pi kernel arguments from Flatcar's Pi 4 docs, minus `flatcar.autologin` (a root shell
 * on the console for anyone with a keyboard). Setting them makes the first boot reboot once.
 */
const PI_KERNEL_ARGUMENTS = ["usbcore.autosuspend=-1"];

export interface NodeIgnitionInputs {
  /** Public keys added to the user's own for `core`, e.g. Pulumi's deploy key (OpenSSH one-line form). */
  readonly extraAuthorizedKeys: readonly string[];
}

/**
 * The Ignition 3.3.0 config of one node: hostname, static network, `core`'s SSH keys (`core`
 * already exists on Flatcar, so no groups: see flatcar/Flatcar#799), docker at boot, sshd on the
 * node's sshPort, Swarm kernel settings, update strategy, optional zram, then the cluster's and the node's snippets.
 * Pure: same inputs, same object.
 */
export function renderNodeIgnition(config: HomelabConfig, node: NodeConfig, inputs: NodeIgnitionInputs): IgnitionConfig {
  const docker = dockerAtBoot();
  const keys = [...new Set([...config.ssh.authorizedKeys, ...inputs.extraAuthorizedKeys].map((k) => k.trim()))];
  const base: IgnitionConfig = {
    ignition: { version: IGNITION_VERSION },
    ...(config.arch === "arm64" ? { kernelArguments: { shouldExist: PI_KERNEL_ARGUMENTS } } : {}),
    passwd: { users: [{ name: "core", sshAuthorizedKeys: keys }] },
    storage: {
      files: [
        hostnameFile(node),
        staticNetworkFile(config.network, node, config.domain),
        updateConfFile(config, node),
        ...swarmKernelFiles(),
        dockerDaemonFile(node),
        ...zramFiles(node),
      ],
      links: [docker.link],
    },
    systemd: { units: [docker.unit, ...sshPortUnits(node)] },
  };
  return applySnippets(base, [...config.snippets, ...node.snippets]);
}

/** Stable JSON: keys sorted, two-space indent, trailing newline, so unchanged config never diffs. */
export function serializeIgnition(config: IgnitionConfig): string {
  const sortKeys = (_key: string, value: unknown): unknown =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : value;
  return JSON.stringify(config, sortKeys, 2) + "\n";
}

/** Every node's Ignition JSON, keyed by node name. */
export function renderClusterIgnition(config: HomelabConfig, inputs: NodeIgnitionInputs): Record<string, string> {
  return Object.fromEntries(config.nodes.map((node) => [node.name, serializeIgnition(renderNodeIgnition(config, node, inputs))]));
}
