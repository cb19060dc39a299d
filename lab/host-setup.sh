#!/usr/bin/env bash
# Prepare this machine for the lab (idempotent): install the Debian packages the lab needs if they
# are missing, and start the host's own dockerd if it is not running (there is no systemd here).
# .ci/run calls it before `npm run lab:up`; running it again is harmless.
set -euo pipefail

# haproxy: lab/images/haproxy makes the lab's haproxy:2.6.12 image from Debian's package (no registry
# is reachable); only its binary and libraries are used, the host needs no haproxy service.
# busybox-static: the shell and cp of the lab's adguard/adguardhome stand-in (the official image is
# Alpine's). dnsutils (dig) and curl: the tests ask the lab's DNS and Traefik as a client would.
# prometheus, prometheus-alertmanager, prometheus-node-exporter: lab/images/{prometheus,
# alertmanager,node-exporter} make the lab's prom/* images of the monitoring stack from these
# packages' binaries and files, as for haproxy; the host runs none of them (see POLICY below).
# chromium-headless-shell: the real browser the JIT splash-page test drives (puppeteer-core).
# wrk: the load generator of `npm run bench:jit`.
# restic: lab/images/restic makes the lab's restic/restic:0.14.0 image (the backup feature's) from
# this package's binary, as for haproxy; the backup tests also read the lab's repository with it.
# sqlite3: lab/images/sqlite-writer (the backup drill's test fixture) is made from its binary.
PACKAGES=(docker.io containerd runc debootstrap ignition openssh-client iproute2 iptables
  ca-certificates shellcheck util-linux procps haproxy busybox-static dnsutils curl
  prometheus prometheus-alertmanager prometheus-node-exporter chromium-headless-shell wrk restic sqlite3)
# Debian's packages start their daemons when installed (haproxy; prometheus on :9090, alertmanager
# on :9093/:9094, node-exporter on :9100). The lab wants only their files, so while this script
# installs, a policy-rc.d denies every service start, unless the host has one already (a
# container's usually denies all, as this one does). dockerd is started below, by this script,
# whatever the policy. (On a host with systemd the packages still enable their units for the next
# boot; the lab host has no systemd.)
POLICY=/usr/sbin/policy-rc.d
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
  own_policy=""
  if [ ! -e "$POLICY" ]; then
    printf '%s\n' '#!/bin/sh' '# lab/host-setup.sh: no service starts while it installs packages' 'exit 101' >"$POLICY"
    chmod 755 "$POLICY"
    own_policy=1
    trap 'rm -f "$POLICY"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$own_policy" ]; then
    rm -f "$POLICY"
    trap - EXIT
  fi
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
