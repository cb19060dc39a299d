#!/bin/bash
# PID 1 of a lab node before systemd: apply the node's Ignition config with the real Ignition
# engine (first boot only, like Flatcar's initramfs does), then hand over to systemd.
set -euo pipefail

CONFIG=${HOMELAB_IGNITION_CONFIG:-/oem/config.ign}
STAMP=/etc/.homelab-ignition-done
IGNITION=/usr/lib/dracut/modules.d/30ignition/ignition
LOG=/var/log/homelab-ignition.log

# Docker bind-mounts these three files on every start; Flatcar has none of that. Unmount them so
# Ignition (and later the node itself) owns the image's files underneath.
for f in /etc/hostname /etc/hosts /etc/resolv.conf; do
  while mountpoint -q "$f"; do umount "$f"; done
done

if [ ! -e "$STAMP" ]; then
  # Docker's init layer leaves these empty: give the node sane defaults first (Ignition may
  # overwrite them). The hostname comes from Ignition, as on Flatcar.
  cp /usr/local/lib/homelab-lab/etc/hosts /etc/hosts
  cp /usr/local/lib/homelab-lab/etc/resolv.conf /etc/resolv.conf
  if [ ! -s "$CONFIG" ]; then
    echo "homelab-lab: no Ignition config at $CONFIG" >&2
    exit 1
  fi
  # Debian builds Ignition with SELinux relabeling: a no-op setfiles first on PATH (not under
  # /run, which is noexec) and /etc/selinux/config (in the image) satisfy it.
  mkdir -p /run/ignition
  export PATH=/usr/local/lib/homelab-lab/bin:$PATH
  {
    echo "== $(date -u +%FT%TZ) ignition fetch-offline"
    IGNITION_CONFIG_FILE=$CONFIG "$IGNITION" -platform file -stage fetch-offline -log-to-stdout
    echo "== $(date -u +%FT%TZ) ignition files"
    IGNITION_CONFIG_FILE=$CONFIG "$IGNITION" -platform file -stage files -root / -log-to-stdout
  } >>"$LOG" 2>&1 || {
    echo "homelab-lab: Ignition failed; tail of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  }
  date -u +%FT%TZ >"$STAMP"
fi

# Image pulls must fail at once (no registry is reachable): keep registry names on a closed local
# port even if Ignition wrote its own /etc/hosts.
if ! grep -q 'homelab-lab-registries' /etc/hosts 2>/dev/null; then
  cat >>/etc/hosts <<'HOSTS'
# homelab-lab-registries: no registry is reachable; pulls fail at once on a closed local port.
127.0.0.1	registry-1.docker.io docker.io index.docker.io auth.docker.io registry.docker.io
127.0.0.1	production.cloudflare.docker.com ghcr.io quay.io gcr.io registry.k8s.io
HOSTS
fi

# systemd needs to know it runs in a container (docker sets no container= for PID 1 by itself).
export container=docker
exec /sbin/init
