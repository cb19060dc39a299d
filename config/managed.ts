/**
 * Files and units the base Ignition config writes. Validation refuses snippets that would replace
 * them (a snippet would silently win or lose), so the list lives here, where both it and the
 * renderers can read it without config/ depending on ignition/.
 */

export const PATHS = {
  hostname: "/etc/hostname",
  network: "/etc/systemd/network/00-homelab-static.network",
  updateConf: "/etc/flatcar/update.conf",
  sysctl: "/etc/sysctl.d/90-homelab-swarm.conf",
  modules: "/etc/modules-load.d/homelab-swarm.conf",
  zram: "/etc/systemd/zram-generator.conf",
  dockerWants: "/etc/systemd/system/multi-user.target.wants/docker.service",
  dockerDaemon: "/etc/docker/daemon.json",
} as const;

export const UNITS = {
  docker: "docker.service",
} as const;

export const MANAGED_PATHS: readonly string[] = Object.values(PATHS);

export const MANAGED_UNITS: readonly string[] = Object.values(UNITS);
