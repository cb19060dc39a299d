import { PATHS } from "../config/managed";
import { HomelabConfig, NodeConfig } from "../config/schema";
import { IgnitionFile, lines, textFile } from "./types";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;

/**
 * The reboot window of a node under the staggered strategy: managers take the first weekdays in
 * config order, so no two managers share a day and quorum survives updates; workers follow.
 * locksmithd has no lock without etcd, so disjoint windows are what keeps reboots apart.
 */
function staggeredWindowStart(config: HomelabConfig, node: NodeConfig): string {
  const ordered = [...config.nodes.filter((n) => n.role === "manager"), ...config.nodes.filter((n) => n.role === "worker")];
  const index = ordered.findIndex((n) => n.name === node.name);
  return `${WEEKDAYS[index % WEEKDAYS.length]} ${config.updates.windowStart}`;
}

/** /etc/flatcar/update.conf (read by update-engine and locksmithd). */
export function updateConfFile(config: HomelabConfig, node: NodeConfig): IgnitionFile {
  const { updates } = config;
  const strategy = updates.rebootStrategy;
  const body: string[] = [`GROUP=${updates.group}`];
  switch (strategy) {
    case "off":
      body.push("REBOOT_STRATEGY=off");
      break;
    case "reboot":
      body.push("REBOOT_STRATEGY=reboot", `LOCKSMITHD_REBOOT_WINDOW_START=${updates.windowStart}`, `LOCKSMITHD_REBOOT_WINDOW_LENGTH=${updates.windowLength}`);
      break;
    case "staggered":
      body.push(
        "REBOOT_STRATEGY=reboot",
        `LOCKSMITHD_REBOOT_WINDOW_START="${staggeredWindowStart(config, node)}"`,
        `LOCKSMITHD_REBOOT_WINDOW_LENGTH=${updates.windowLength}`,
      );
      break;
    default: {
      const unhandled: never = strategy;
      throw new Error(`unhandled reboot strategy ${String(unhandled)}`);
    }
  }
  return textFile(PATHS.updateConf, lines(...body));
}
