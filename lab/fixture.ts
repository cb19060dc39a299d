/**
 * A minimal Ignition 3.3.0 config for a lab node: hostname, a marker file and docker enabled. Keys
 * are added by the lab (withLabKey). For tests that must not depend on the renderer.
 */
export function minimalIgnition(hostname: string): Record<string, unknown> {
  return {
    ignition: { version: "3.3.0" },
    passwd: { users: [{ name: "core", sshAuthorizedKeys: [] }] },
    storage: {
      files: [
        {
          path: "/etc/hostname",
          mode: 0o644,
          overwrite: true,
          contents: { source: `data:,${encodeURIComponent(`${hostname}\n`)}` },
        },
        {
          path: "/etc/homelab/lab-fixture",
          mode: 0o644,
          overwrite: true,
          contents: { source: "data:,fixture" },
        },
      ],
    },
    systemd: { units: [{ name: "docker.service", enabled: true }] },
  };
}
