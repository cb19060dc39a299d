#!/usr/bin/env bash
# Makes the image traefik/whoami:v1.10.3 on the host's dockerd, holding the lab's STAND-IN for
# whoami (main.go here, not the real software: see its top comment), and saves it to a tarball in
# the cache, whose path is the LAST line of stdout (the lab `docker load`s it into each node's own
# dockerd). Progress goes to stderr. Both the Go build and the image are cached: a second run takes
# about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" whoami-image
tag=traefik/whoami:v1.10.3

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
[ -x "$go_bin" ] || die "Go is needed (none on PATH or in /usr/local/go/bin)"

# The installed Go as is; stdlib only, so -mod=mod never needs the network. -buildvcs=false: the
# binary must not depend on the checkout's git state, or the key below would not describe it.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# What decides the binary: the sources (the tests too, since a build runs them), this script (its
# flags) and the Go version. The build lives outside the tree so that the checkout stays clean.
src_key="$({
  cd "$here"
  find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum
  sha256sum <"$lab_script"
  "$go_bin" version
} | sha256sum | cut -c1-12)"
slot="$lab_cache/whoami-$src_key"
bin="$slot/whoami"

mkdir -p "$lab_cache"
# One Go build at a time: a second run waits here, then finds the binary the first one made. Held to
# the end, so that a run with other sources cannot remove this slot under the image step.
exec 8>"$lab_cache/whoami.lock"
flock 8
if [ -x "$bin" ]; then
  say "cached: $bin"
else
  say "go vet, go test, go build whoami stand-in ($("$go_bin" version | cut -d' ' -f3))"
  rm -rf "$slot"
  mkdir -p "$slot"
  # Nothing else runs the stand-in's Go tests, and a stand-in that fails them must not become the
  # image the lab trusts: they gate every new build (~15 s with a warm Go build cache, and only when
  # the sources change). Chained with &&: set -e does not apply inside a subshell left of ||.
  (
    cd "$here" &&
      "$go_bin" vet ./... >&2 &&
      "$go_bin" test -count=1 ./... >&2 &&
      "$go_bin" build -trimpath -ldflags "-s -w" -o "$bin.tmp" .
  ) || die "the whoami stand-in did not pass go vet, go test and go build (output above)"
  mv "$bin.tmp" "$bin"
  say "built $bin ($(du -k "$bin" | cut -f1) KiB)"
  # Older builds (another key) and the tarballs saved beside them are dead weight.
  find "$lab_cache" -mindepth 1 -maxdepth 1 -type d -name 'whoami-*' ! -path "$slot" -exec rm -rf {} +
fi

# The image's recipe: the binary (its slot names its key), the Dockerfile and the image scripts.
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile")"

context() { lab_put "$bin" "$1/whoami"; }
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
