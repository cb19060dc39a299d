/** Files and units the base Ignition config owns; snippets may not replace them (they would silently win or lose). */

export const PATHS = {
  hostname: "/etc/hostname",
  network: "/etc/systemd/network/00-homelab-static.network",
  updateConf: "/etc/flatcar/update.conf",
  sysctl: "/etc/sysctl.d/90-homelab-swarm.conf",
  modules: "/etc/modules-load.d/homelab-swarm.conf",
  zram: "/etc/systemd/zram-generator.conf",
  dockerWants: "/etc/systemd/system/multi-user.target.wants/docker.service",
} as const;

export const MANAGED_PATHS: readonly string[] = Object.values(PATHS);

export const MANAGED_UNITS: readonly string[] = ["docker.service"];
