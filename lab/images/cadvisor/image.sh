#!/usr/bin/env bash
# Makes the image gcr.io/cadvisor/cadvisor:v0.49.1 on the host's dockerd from the real cAdvisor
# v0.49.1 library, built here with the lab's own main (main.go beside this file: see its top
# comment for why and what it leaves out), and saves it to a tarball in the cache, whose path is
# the LAST line of stdout (the lab `docker load`s it into each node's own dockerd). Progress goes
# to stderr. Both the Go build and the image are cached: a second run takes about a second.
#
# Built: github.com/google/cadvisor v0.49.1 (tag commit 74350beb8fa7e7d95fcf0347d9a2a729733f6c16)
# from the Go module proxy, with the versions its own go.mod requires (client_golang v1.14.0,
# docker v20.10.27+incompatible, runc v1.1.12, grpc v1.58.3, klog v2.100.1, ...; go.mod and go.sum
# here pin them all). The proxy serves upstream's main module, github.com/google/cadvisor/cmd, at
# no version (404 for v0.49.1 to v0.60.6 and for the tag's commit), so no newer tag would build
# either: hence main.go. No fix to upstream's code was needed. One pin differs from a plain `go mod
# tidy`: github.com/Azure/go-ansiterm (Windows-only, never compiled here) at the version in
# cadvisor's go.sum, not the proxy's latest. CGO_ENABLED=0, so no libpfm (perf events) and no
# libipmctl (Intel NVM), as upstream's non-x86 builds lack the latter too.
#
# Needs Go, the Go module proxy and Debian's busybox-static.
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" cadvisor-image
tag=gcr.io/cadvisor/cadvisor:v0.49.1
version=v0.49.1
# Upstream's build/build.sh stamps `git rev-parse --short HEAD`; the proxy's .info for v0.49.1
# names the tag's commit.
revision=74350beb
busybox=/bin/busybox

# Only the static build runs in an image without a libc, and Debian's plain `busybox` package puts
# a dynamic one at the same path.
if [ ! -x "$busybox" ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  die "no static busybox at $busybox (apt-get install busybox-static)"
fi

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
[ -x "$go_bin" ] || die "Go is needed (none on PATH or in /usr/local/go/bin)"
go_version="$("$go_bin" env GOVERSION)"

# The installed Go as is; go.sum is complete, so -mod=mod changes nothing in the tree. -buildvcs=false:
# the binary must not depend on the checkout's git state, or the key below would not describe it.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# What decides the binary: main.go, go.mod and go.sum (every module by version and hash), this
# script (its flags) and the Go version. The build lives outside the tree so that the checkout
# stays clean.
src_key="$({
  cd "$here"
  find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum
  sha256sum <"$lab_script"
  printf '%s\n' "$go_version"
} | sha256sum | cut -c1-12)"
slot="$lab_cache/cadvisor-$version-$src_key"
bin="$slot/cadvisor"

mkdir -p "$lab_cache"
# One Go build at a time (2 cores): a second run waits here, then finds the binary the first one
# made. Held to the end, so that a run with other sources cannot remove this slot under the image
# step.
exec 8>"$lab_cache/cadvisor.lock"
flock 8
if [ -x "$bin" ]; then
  say "cached: $bin"
else
  say "go build cAdvisor $version with $go_version (cold: ~1 min, up to ~6 min with an empty Go build cache)"
  rm -rf "$slot"
  mkdir -p "$slot"
  x=github.com/google/cadvisor/version
  # go vet after the build: it then reuses the build's compiled packages (~1 s instead of ~1.5 min).
  # Chained with &&: set -e does not apply inside a subshell left of ||.
  (
    cd "$here" &&
      nice -n 10 "$go_bin" build -trimpath \
        -ldflags "-s -w -X $x.Version=$version -X $x.Revision=$revision -X $x.GoVersion=${go_version#go}" \
        -o "$bin.tmp" . >&2 &&
      "$go_bin" vet . >&2
  ) || die "go build or go vet of cAdvisor failed (output above)"
  mv "$bin.tmp" "$bin"
  say "built $bin ($(du -m "$bin" | cut -f1) MiB)"
  # Older builds (another key) and the tarballs saved beside them are dead weight.
  find "$lab_cache" -mindepth 1 -maxdepth 1 -type d -name 'cadvisor-*' ! -path "$slot" -exec rm -rf {} +
fi

# The image's recipe: the binary (its slot names its key), the Dockerfile, the image scripts and
# busybox.
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile" "$busybox")"

context() {
  local root="$1/rootfs" applet
  lab_put "$bin" "$root/usr/bin/cadvisor"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  # wget for the official image's HEALTHCHECK; a shell and a few tools for `docker exec`.
  for applet in sh wget ls cat ps; do ln -s busybox "$root/bin/$applet"; done
  chmod 1777 "$root/tmp"
  # Go's resolver reads it: /etc/hosts (docker writes the container's name there) before DNS.
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
