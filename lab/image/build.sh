#!/usr/bin/env bash
# Build the lab's node image from Debian packages: debootstrap a bookworm root, make it look like
# Flatcar where the lab relies on it, and `docker import` it as IMAGE.
#   usage: build.sh IMAGE [RECIPE_HASH]
# The .deb cache lives outside the work tree (HOMELAB_LAB_CACHE, default /var/cache/homelab-lab).
set -euo pipefail

IMAGE=${1:?usage: build.sh IMAGE [RECIPE_HASH]}
RECIPE=${2:-unknown}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${HOMELAB_LAB_CACHE:-/var/cache/homelab-lab}
MIRROR=${HOMELAB_LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
INCLUDE=systemd,systemd-sysv,dbus,openssh-server,docker.io,iproute2,sudo,ca-certificates,procps,curl,ignition,libnss-myhostname,iputils-ping,netcat-openbsd,less

mkdir -p "$CACHE/debs"
ROOT=$(mktemp -d "$CACHE/rootfs.XXXXXX")
cleanup() {
  # Never follow into anything mounted below the root (nothing should be, but be safe).
  if mountpoint -q "$ROOT/proc" 2>/dev/null; then umount "$ROOT/proc" || true; fi
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

echo "[image] debootstrap $SUITE (cache $CACHE/debs)" >&2
debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$CACHE/debs" \
  "$SUITE" "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
  tail -n 30 "$CACHE/debootstrap.log" >&2
  exit 1
}

echo "[image] customise" >&2
# Our files (entrypoint, sshd/sudo drop-ins, first-boot host key unit, hosts, resolv.conf ...).
cp -a "$HERE/rootfs/." "$ROOT/"
chown -R root:root "$ROOT/etc" "$ROOT/usr/local"
chmod 0440 "$ROOT/etc/sudoers.d/core"

in_root() { chroot "$ROOT" "$@"; }
# Flatcar's baselayout: `core` (uid 500) exists, in docker, sudo and systemd-journal; no password.
in_root groupadd --gid 500 core
in_root useradd --key UID_MIN=500 --uid 500 --gid 500 --create-home --shell /bin/bash \
  --groups docker,sudo,systemd-journal core
in_root usermod --password '*' core
install -d -m 0700 -o 500 -g 500 "$ROOT/home/core/.ssh"

# Per-node identity: host keys are made at first boot, machine-id is empty so systemd makes a new
# one (and applies unit presets, Ignition's included) on each node's first boot.
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"

# Units: docker on, sshd socket-activated as on Flatcar (Debian's ssh.service off), host keys at
# first boot; nothing that only makes sense on real hardware.
in_root systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
in_root systemctl enable docker.service sshd.socket homelab-ssh-hostkeys.service >/dev/null 2>&1
for unit in getty@tty1.service console-getty.service systemd-networkd.service \
  systemd-networkd-wait-online.service systemd-timesyncd.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_reap.service; do
  in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done

# Slim down.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* \
  "$ROOT"/usr/share/man/* "$ROOT"/var/log/*.log

echo "[image] docker import $IMAGE" >&2
tar -C "$ROOT" --numeric-owner --xattrs -c . | docker import \
  -c 'ENTRYPOINT ["/usr/local/lib/homelab-lab/entrypoint.sh"]' \
  -c 'ENV container=docker' \
  -c "LABEL homelab.lab=node homelab.lab.recipe=$RECIPE" \
  - "$IMAGE" >/dev/null
echo "[image] built $IMAGE" >&2
