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
tag=adguard/adguardhome:v0.107.77
busybox=/bin/busybox

# Only the static build runs in an image without a libc, and Debian's plain `busybox` package puts
# a dynamic one at the same path.
if [ ! -x "$busybox" ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  die "no static busybox at $busybox (apt-get install busybox-static)"
fi

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
[ -x "$go_bin" ] || die "Go is needed (none on PATH or in /usr/local/go/bin)"

# The installed Go as is; -mod=mod lets go.sum gain a line a new import needs. -buildvcs=false:
# the binary must not depend on the checkout's git state, or the key below would not describe it.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# What decides the binary: the sources (the tests too, since a build runs them), this script (its
# flags) and the Go version. Modules come by exact version, checked against go.sum. The build lives
# outside the tree so that the checkout stays clean.
src_key="$({
  cd "$here"
  find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum
  sha256sum <"$lab_script"
  "$go_bin" version
} | sha256sum | cut -c1-12)"
slot="$lab_cache/adguardhome-$src_key"
bin="$slot/AdGuardHome"

mkdir -p "$lab_cache"
# One Go build at a time: a second run waits here, then finds the binary the first one made. Held
# to the end, so that a run with other sources cannot remove this slot under the image step.
exec 8>"$lab_cache/adguardhome.lock"
flock 8
if [ -x "$bin" ]; then
  say "cached: $bin"
else
  say "go vet, go test, go build the AdGuard Home stand-in ($("$go_bin" version | cut -d' ' -f3))"
  rm -rf "$slot"
  mkdir -p "$slot"
  # A stand-in that fails its tests must not become the image the lab trusts, and nothing else runs
  # them: they gate every new build (only when the sources change). Chained with &&: set -e does
  # not apply inside a subshell left of ||.
  (
    cd "$here" &&
      "$go_bin" vet ./... >&2 &&
      "$go_bin" test -count=1 ./... >&2 &&
      "$go_bin" build -trimpath -ldflags "-s -w" -o "$bin.tmp" .
  ) || die "the AdGuard Home stand-in did not pass go vet, go test and go build (output above)"
  mv "$bin.tmp" "$bin"
  say "built $bin ($(du -k "$bin" | cut -f1) KiB)"
  # Older builds (another key) and the tarballs saved beside them are dead weight.
  find "$lab_cache" -mindepth 1 -maxdepth 1 -type d -name 'adguardhome-*' ! -path "$slot" -exec rm -rf {} +
fi

# The image's recipe: the binary (its slot names its key), the Dockerfile, the image scripts and
# busybox.
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile" "$busybox")"

context() {
  lab_put "$bin" "$1/AdGuardHome"
  cp "$busybox" "$1/busybox"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
