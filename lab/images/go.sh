# shellcheck shell=bash
# Sourced after lib.sh by the image scripts of the lab's STAND-INs written in Go (whoami,
# adguardhome, standin): one tested, cached build of the program beside the script.
#
# go_standin_build NAME BINARY WHAT: vets, tests and builds the Go program in "$here" into
# "$lab_cache/NAME-<key>/BINARY" unless that binary exists, and sets `slot` and `bin`. The key is
# the sources (the tests too, since a build runs them), the calling script and this file (their
# flags) and the Go version; the build lives outside the tree so that the checkout stays clean.
# The installed Go as is; -mod=mod lets go.sum gain a line a new import needs (modules come by
# exact version, checked against go.sum). -buildvcs=false: the binary must not depend on the
# checkout's git state, or the key would not describe it.
# shellcheck disable=SC2154 # here is the calling script's, lab_script and lab_cache lib.sh's
go_standin_build() {
  local name=$1 binary=$2 what=$3 go_bin src_key
  go_bin="$(command -v go || true)"
  [ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
  [ -x "$go_bin" ] || die "Go is needed (none on PATH or in /usr/local/go/bin)"
  export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
  src_key="$({
    cd "$here" || exit
    find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum <"$lab_script"
    sha256sum <"${BASH_SOURCE[0]}"
    "$go_bin" version
  } | sha256sum | cut -c1-12)"
  slot="$lab_cache/$name-$src_key"
  bin="$slot/$binary"

  mkdir -p "$lab_cache"
  # One Go build at a time: a second run waits here, then finds the binary the first one made. Held
  # to the end of the script, so that a run with other sources cannot remove this slot under the
  # image step.
  exec 8>"$lab_cache/$name.lock"
  flock 8
  if [ -x "$bin" ]; then
    say "cached: $bin"
    return
  fi
  say "go vet, go test, go build $what ($("$go_bin" version | cut -d' ' -f3))"
  rm -rf "$slot"
  mkdir -p "$slot"
  # Nothing else runs a stand-in's Go tests, and one that fails them must not become the image the
  # lab trusts: they gate every new build (only when the sources change). Chained with &&: set -e
  # does not apply inside a subshell left of ||.
  (
    cd "$here" &&
      "$go_bin" vet ./... >&2 &&
      "$go_bin" test -count=1 ./... >&2 &&
      "$go_bin" build -trimpath -ldflags "-s -w" -o "$bin.tmp" .
  ) || die "$what did not pass go vet, go test and go build (output above)"
  mv "$bin.tmp" "$bin"
  say "built $bin ($(du -k "$bin" | cut -f1) KiB)"
  # Older builds (another key) and the tarballs saved beside them are dead weight.
  find "$lab_cache" -mindepth 1 -maxdepth 1 -type d -name "$name-*" ! -path "$slot" -exec rm -rf {} +
}
