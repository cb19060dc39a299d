#!/usr/bin/env bash
# Makes the image adguard/adguardhome:v0.107.77 on the host's dockerd, holding the lab's STAND-IN
# for AdGuard Home (the Go program here, not the real software: see main.go's top comment), and
# saves it to a tarball in the cache, whose path is the LAST line of stdout (the lab `docker load`s
# it into each node's own dockerd). Progress goes to stderr. Both the Go build and the image are
# cached: a second run takes about a second.
#
# Needs Go, the Go module proxy (miekg/dns, yaml.v3, x/crypto) and Debian's busybox-static.
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" adguardhome-image
# shellcheck source=SCRIPTDIR/../go.sh
source "$here/../go.sh"
tag=adguard/adguardhome:v0.107.77
busybox=/bin/busybox

# Only the static build runs in an image without a libc, and Debian's plain `busybox` package puts
# a dynamic one at the same path.
if [ ! -x "$busybox" ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  die "no static busybox at $busybox (apt-get install busybox-static)"
fi

go_standin_build adguardhome AdGuardHome "the AdGuard Home stand-in"

# The image's recipe: the binary (its slot names its key), the Dockerfile, the image scripts and
# busybox.
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile" "$busybox")"

context() {
  lab_put "$bin" "$1/AdGuardHome"
  cp "$busybox" "$1/busybox"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
