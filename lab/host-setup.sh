#!/usr/bin/env bash
# Prepare this machine for the lab (idempotent): install the Debian packages the lab needs if they
# are missing, and start the host's own dockerd if it is not running (there is no systemd here).
# .ci/run calls it before `npm run lab:up`; running it again is harmless.
set -euo pipefail

# haproxy: lab/images/haproxy makes the lab's haproxy:2.6.12 image from Debian's package (no registry
# is reachable); only its binary and libraries are used, the host needs no haproxy service.
# busybox-static: the shell and cp of the lab's adguard/adguardhome stand-in (the official image is
# Alpine's). dnsutils (dig) and curl: the tests ask the lab's DNS and Traefik as a client would.
PACKAGES=(docker.io containerd runc debootstrap ignition openssh-client iproute2 iptables
  ca-certificates shellcheck util-linux procps haproxy busybox-static dnsutils curl)
DOCKERD_LOG=${HOMELAB_DOCKERD_LOG:-/var/log/homelab-dockerd.log}
LOCK=/run/homelab-host-setup.lock

log() { printf '[host-setup] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and starts dockerd)"
  exit 1
fi

# Several engineers/CI steps may call this at once: serialise.
exec 9>"$LOCK"
flock 9

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages present"
fi

if docker info >/dev/null 2>&1; then
  log "dockerd already running"
  exit 0
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd (log: $DOCKERD_LOG)"
  # Detach fully (own session, no inherited descriptors) so the caller may exit.
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    log "dockerd ready"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not become ready in 60 s; last log lines:"
tail -n 30 "$DOCKERD_LOG" >&2 || true
exit 1
