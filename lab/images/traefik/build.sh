#!/usr/bin/env bash
# Builds (or reuses) a static Traefik v3.7.13 binary from source for the lab, and
# prints its path on the LAST line of stdout. Progress goes to stderr.
#
# No container registry is reachable here, so the lab cannot pull traefik:v3.7.13;
# the Go module proxy serves Traefik's source, and three local fixes (below, each
# with its reason) make it build. Nothing is changed in the module cache or in
# shared/upstream: the fixes are applied to a scratch copy in the cache.
#
# Environment:
#   HOMELAB_LAB_IMAGE_CACHE  cache root (default ~/.cache/homelab/lab-images)
#   HOMELAB_UPSTREAM_DIR     pristine upstream sources (default <repo>/../shared/upstream)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${HOMELAB_LAB_IMAGE_CACHE:-$HOME/.cache/homelab/lab-images}"
upstream="${HOMELAB_UPSTREAM_DIR:-$repo/../shared/upstream}"

version=v3.7.13
traefik_mod=github.com/traefik/traefik/v3
lego_mod=github.com/go-acme/lego/v5
http_auth=go-http-auth-a37a763
# lego's DNS-challenge providers whose SDK modules the proxy refuses (fix 3).
refused_dns=(alidns aliesa azion dnsimple edgedns edgeone huaweicloud oraclecloud regfish
  sakuracloud tencentcloud ucloud yandexcloud)

t0=$SECONDS
say() { printf '[traefik +%ss] %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
[ -x "$go_bin" ] || die "Go is needed (none on PATH or in /usr/local/go/bin)"
[ -d "$upstream/$http_auth" ] ||
  die "$upstream/$http_auth is missing (set HOMELAB_UPSTREAM_DIR to a copy of shared/upstream)"
upstream="$(cd "$upstream" && pwd)"

# The installed Go as is (Traefik's go.mod wants go >= 1.26.0); -mod=mod lets the
# edited go.mod add the go.sum lines of the local replacements' own requirements.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# Everything that decides the binary: this script (the fixes and flags), the Go
# version, and the go-http-auth sources. Traefik and lego come by exact version
# from the proxy, checked against the checksum database, so their versions
# (in this script) are enough.
key="$({
  sha256sum "${BASH_SOURCE[0]}" | cut -c1-64
  "$go_bin" version
  (cd "$upstream/$http_auth" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
} | sha256sum | cut -c1-12)"
slot="$cache/traefik-$version-$key"
bin="$slot/traefik"

mkdir -p "$cache"
# One build at a time (2 cores, a cold build takes minutes): a second run waits here,
# then finds the binary the first one made.
exec 9>"$cache/traefik.lock"
flock 9

if [ -x "$bin" ]; then
  say "cached: $bin"
  printf '%s\n' "$bin"
  exit 0
fi

moddir() { # module@version -> its directory in GOMODCACHE (downloaded if needed)
  "$go_bin" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

say "building Traefik $version with $("$go_bin" version | cut -d' ' -f3) (cold: ~6 min, ~6 GB of Go build cache)"
work="$slot/build"
rm -rf "$slot"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

src="$(moddir "$traefik_mod@$version")"
[ -n "$src" ] || die "go mod download $traefik_mod@$version gave no directory"
cp -R "$src" "$work/traefik"
chmod -R u+w "$work/traefik"
say "source: $src"

# Fix 1: Traefik's go.mod has `replace github.com/traefik/traefik/dynamic/ext =>
# ./pkg/config/dynamic/ext`, a nested module. A module zip never holds nested
# modules, so that directory is missing from the download (and the proxy refuses
# the path as a module of its own). Traefik embeds two types from it,
# ext.HTTP in dynamic.HTTPConfiguration and ext.Router in dynamic.Router, both
# empty extension points upstream; a tiny module with those two empty structs
# stands in, at the path the replace already names.
ext="$work/traefik/pkg/config/dynamic/ext"
mkdir -p "$ext"
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.22\n' >"$ext/go.mod"
cat >"$ext/ext.go" <<'EOF'
// Package ext stands in for Traefik's nested dynamic/ext module, which the
// module download lacks (homelab lab build): the two empty extension points.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
EOF

# Fix 2: Traefik replaces github.com/abbot/go-http-auth with a 2026 commit of its
# fork github.com/containous/go-http-auth, which the proxy refuses. The older
# commit a37a763 of the same fork (shared/upstream, pristine) has every function
# Traefik calls (basic and digest auth); whatever the newer commit changed is
# missing, which is acceptable for the lab only.
cp -R "$upstream/$http_auth" "$work/go-http-auth"
chmod -R u+w "$work/go-http-auth"

# Fix 3: lego (ACME) registers every DNS-challenge provider in one generated
# switch, providers/dns/zz_gen_dns_providers.go, so importing that package pulls
# in every provider's SDK; 13 SDK modules are refused by the proxy. A copy of lego
# with those 13 dropped from the switch (import and case) builds; ~200 providers
# remain. The package's test (dns_providers_test.go) only uses `exec`, so it needs
# no change. Asking Traefik for a dropped provider fails as an unknown one.
lego_version="$(sed -n "s|^[[:space:]]*$lego_mod \(v[^ ]*\).*|\1|p" "$work/traefik/go.mod" | head -n1)"
[ -n "$lego_version" ] || die "no $lego_mod requirement in Traefik's go.mod"
lego_src="$(moddir "$lego_mod@$lego_version")"
cp -R "$lego_src" "$work/lego"
chmod -R u+w "$work/lego"
gen="$work/lego/providers/dns/zz_gen_dns_providers.go"
refused="${refused_dns[*]}"
awk -v refused="$refused" '
  BEGIN { n = split(refused, r, " "); for (i = 1; i <= n; i++) drop[r[i]] = 1 }
  # The import line of a dropped provider.
  match($0, /^\t"github.com\/go-acme\/lego\/v5\/providers\/dns\/[a-z0-9]+"$/) {
    p = $0; sub(/.*\//, "", p); sub(/"$/, "", p)
    if (p in drop) { imports++; next }
  }
  # A case line is held until the next line says whose provider it returns.
  /^\tcase / { held = $0; next }
  held != "" {
    if (match($0, /^\t\treturn [a-z0-9]+\.NewDNSProvider\(\)$/)) {
      p = $0; sub(/^\t\treturn /, "", p); sub(/\..*/, "", p)
      if (p in drop) { cases++; held = ""; next }
    }
    print held; held = ""
  }
  { print }
  END { if (imports != n || cases != n) { printf "dropped %d imports and %d cases, want %d each\n", imports, cases, n > "/dev/stderr"; exit 1 } }
' "$gen" >"$gen.new" || die "could not drop the refused DNS providers from $gen (lego changed?)"
mv "$gen.new" "$gen"
say "lego $lego_version: dropped ${#refused_dns[@]} DNS providers ($refused)"

(
  cd "$work/traefik"
  "$go_bin" mod edit \
    -replace "github.com/abbot/go-http-auth=../go-http-auth" \
    -replace "$lego_mod=../lego"
)

say "go build (nice -n 10) ..."
log="$slot/build.log"
(
  cd "$work/traefik"
  exec nice -n 10 "$go_bin" build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
    -o "$bin.tmp" ./cmd/traefik
) >"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 5
  if [ $(((SECONDS - t0) % 30)) -lt 5 ]; then say "  ... still building"; fi
done
if ! wait "$pid"; then
  tail -n 40 "$log" | sed 's/^/    /' >&2
  die "go build failed (full log: $log)"
fi
mv "$bin.tmp" "$bin"
say "built $bin ($(du -m "$bin" | cut -f1) MiB)"

# Older builds (another key) are dead weight: ~170 MiB each.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'traefik-*' ! -path "$slot" -exec rm -rf {} +
printf '%s\n' "$bin"
