#!/usr/bin/env bash
# Makes the lab's test fixture homelab-lab/sqlite-writer:3.40.1 (the backup drill's writer: see
# writer.sh) from Debian's sqlite3 and busybox-static installed on this host (lab/host-setup.sh
# installs them; this script installs nothing) and saves it to a tarball in the cache, whose path
# is the LAST line of stdout. Progress goes to stderr. Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" sqlite-writer-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=homelab-lab/sqlite-writer:3.40.1
version="$(deb_version sqlite3 3.40.1 "$tag")"
sqlite=/usr/bin/sqlite3
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  die "no static busybox at $busybox (apt-get install busybox-static)"
fi
deb_closure "$sqlite"
mapfile -t applets < <("$busybox" --list-full | grep -vx -e bin/busybox -e linuxrc | sort)

key="$({
  printf 'sqlite3 %s\n' "$version"
  sha256sum "$sqlite" "${deb_libs[@]}"
  printf '%s\n' "${applets[@]}"
} | lab_key "$here/Dockerfile" "$here/writer.sh" "$busybox" "$lab_debian")"

context() {
  local root="$1/rootfs" f a
  for f in "$sqlite" "${deb_libs[@]}"; do deb_copy "$root" "$f"; done
  deb_copy "$root" "$busybox"
  for a in "${applets[@]}"; do
    mkdir -p "$root/$(dirname "$a")"
    ln -s /bin/busybox "$root/$a"
  done
  deb_copy "$root" "$here/writer.sh" /writer.sh
  deb_etc "$root"
  install -d -m 1777 "$root/tmp"
}
lab_image "$tag" "$key" "$lab_cache/sqlite-writer" "$here/Dockerfile" context
