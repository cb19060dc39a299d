#!/usr/bin/env bash
# Builds (or reuses) the Pulumi CLI, the Node.js language host and the provider
# plugins this project needs, from upstream sources (shared/upstream) and the Go
# module proxy, and prints the directory that holds them all on the LAST line of
# stdout. Progress goes to stderr. See toolchain/README.md.
#
#   bash toolchain/build.sh                    # build or reuse; print the bin dir
#   bash toolchain/build.sh --install-plugins  # also install the provider plugins
#                                              # into ${PULUMI_HOME:-~/.pulumi}
#
# Environment:
#   HOMELAB_TOOLCHAIN_DIR  cache root (default ~/.cache/homelab/toolchain)
#   HOMELAB_TOOLCHAIN_ONLY space-separated binary names to consider (default: all)
#   HOMELAB_UPSTREAM_DIR   pristine upstream sources (default <repo>/../shared/upstream)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${HOMELAB_TOOLCHAIN_DIR:-$HOME/.cache/homelab/toolchain}"
# Read-only upstream sources the proxy does not serve; a CI clone has shared/ beside it too.
upstream="${HOMELAB_UPSTREAM_DIR:-$repo/../shared/upstream}"
[ -d "$upstream" ] && upstream="$(cd "$upstream" && pwd)"
install_plugins=false
for arg in "$@"; do
  case "$arg" in
    --install-plugins) install_plugins=true ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" >&2
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

say() { printf '[toolchain] %s\n' "$*" >&2; }
die() {
  printf '[toolchain] error: %s\n' "$*" >&2
  exit 1
}

start_all=$SECONDS

# --- what we build -----------------------------------------------------------
# name | ours | upstream | Go package | version | npm package | -ldflags -X | build tags
#   ours      a dir under toolchain/. Without an upstream dir: our wrapper module,
#             built in place. With one: the go.mod + go.sum used instead of
#             upstream's ("-": upstream's own are used unchanged).
#   upstream  a dir under $upstream holding the upstream module, built in a
#             scratch copy in the cache ("-": none).
# The language host: upstream's go.mod replaces pkg/v3 and sdk/v3 with paths
# inside the pulumi repo. toolchain/language-nodejs/go.mod is that go.mod with the
# two replaces dropped, both required at v3.259.0 from the proxy, and tidied;
# it is committed (not tidied at build time) so that every build resolves the
# same module versions and -mod=readonly holds.
components=(
  "pulumi|pulumi|-|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|3.259.0|@pulumi/pulumi|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.259.0|osusergo,grpcnotrace"
  "pulumi-language-nodejs|language-nodejs|pulumi-language-nodejs-3.259.0/sdk/nodejs/cmd/pulumi-language-nodejs|.|3.259.0|@pulumi/pulumi|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.259.0|osusergo"
  "pulumi-resource-command|-|pulumi-command-1.2.1/provider|./cmd/pulumi-resource-command|1.2.1|@pulumi/command|github.com/pulumi/pulumi-command/provider/pkg/version.Version=1.2.1|"
  "pulumi-resource-random|random|-|.|4.21.1|@pulumi/random|main.version=4.21.1|osusergo"
  "pulumi-resource-tls|tls|-|.|5.5.1|@pulumi/tls|main.version=5.5.1|osusergo"
  "pulumi-resource-docker|docker|-|.|5.2.0|@pulumi/docker|main.version=5.2.0|osusergo,no_compose"
)

# The plugin versions must match the npm SDKs pinned in package.json: the engine
# asks for exactly the version the SDK package declares.
pinned_version() { # npm package name -> version pinned in package.json
  node -e 'const p=require(process.argv[1]); const n=process.argv[2];
    process.stdout.write(((p.dependencies||{})[n]||(p.devDependencies||{})[n]||"").replace(/^[~^=]/,""))' \
    "$repo/package.json" "$1"
}

# --- Go ------------------------------------------------------------------------
find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [ -x /usr/local/go/bin/go ]; then
    echo /usr/local/go/bin/go
  else
    return 1
  fi
}

go_bin=""
need_go() {
  if [ -z "$go_bin" ]; then
    go_bin="$(find_go)" || die "Go is needed to build the toolchain (none on PATH or in /usr/local/go/bin)"
    say "using $("$go_bin" version) at $go_bin"
  fi
}

# Reproducible, offline-friendly Go settings: the committed go.mod/go.sum decide
# every module version (-mod=readonly fails instead of resolving anew), the
# installed Go is used as is, and no cgo (static binaries, like upstream).
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

# --- helpers -------------------------------------------------------------------
# Hash of everything that decides a binary: the sources and the flags.
src_hash() { # ours upstream ldflags tags
  local dir="$1" updir="$2"
  {
    printf '%s\n%s\n' "$3" "$4"
    if [ "$updir" = - ]; then
      # The wrapper module plus the local stub modules some wrappers replace in.
      (cd "$here" && find "$dir" stubs -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum)
    else
      # Every file of the upstream module (go:embed pulls in more than *.go),
      # then the go.mod/go.sum of ours that replace upstream's.
      (cd "$upstream/$updir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
      if [ "$dir" != - ]; then (cd "$here" && sha256sum "$dir/go.mod" "$dir/go.sum"); fi
    fi
  } | sha256sum | cut -c1-12
}

# Print the version a binary reports, or nothing: `pulumi version` for the CLI,
# `-version` for the language host and bridged providers; the command provider
# has no such flag, so the pulumi CLI asks it for its schema.
reported_version() { # name binary
  local out
  case "$1" in
    pulumi) out="$(PULUMI_SKIP_UPDATE_CHECK=true timeout 20 "$2" version 2>/dev/null || true)" ;;
    pulumi-resource-command) out="$(schema_version "$2")" ;;
    pulumi-language-* | pulumi-resource-*) out="$(timeout 10 "$2" -version </dev/null 2>/dev/null || true)" ;;
    *) out="" ;;
  esac
  printf '%s' "$out" | head -n1 | tr -d '[:space:]' | sed 's/^v//'
}

# The version in a provider's schema, as `pulumi package get-schema` reads it
# (the command provider's only way to say it). Asks the pulumi this run uses
# once it exists, else any pulumi on PATH; prints nothing without one.
schema_cli=""
schema_version() { # binary
  local cli="${schema_cli:-$(command -v pulumi 2>/dev/null || true)}"
  [ -n "$cli" ] || return 0
  mkdir -p "$cache/.schema-home"
  PULUMI_HOME="$cache/.schema-home" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    timeout 30 "$cli" package get-schema "$1" </dev/null 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{try{process.stdout.write(JSON.parse(s).version||"")}catch{}})'
}

# A usable binary already on PATH (not one of ours) whose version fits.
on_path_fits() { # name version
  local found
  case "$1" in pulumi | pulumi-resource-*) ;; *) return 1 ;; esac
  found="$(command -v "$1" 2>/dev/null)" || return 1
  case "$(readlink -f "$found")" in "$(readlink -f "$cache")"/*) return 1 ;; esac
  [ "$(reported_version "$1" "$found")" = "$2" ] || return 1
  printf '%s' "$found"
}

# The language host the official CLI ships next to itself, when that CLI is on
# PATH at the pinned version (the language host and the CLI share a version).
official_langhost() { # name version
  local cli host
  cli="$(on_path_fits pulumi "$2")" || return 1
  host="$(dirname "$(readlink -f "$cli")")/$1"
  [ -x "$host" ] && [ "$(reported_version "$1" "$host")" = "$2" ] || return 1
  printf '%s' "$host"
}

# A provider installed with `pulumi plugin install resource X <version>`.
installed_plugin() { # name version
  local h f
  for h in "${PULUMI_HOME:-}" "$HOME/.pulumi"; do
    f="$h/plugins/resource-${1#pulumi-resource-}-v$2/$1"
    if [ -n "$h" ] && [ -x "$f" ]; then
      printf '%s' "$f"
      return 0
    fi
  done
  return 1
}

# No upstream sources and no official binary to use instead: say how to get one.
no_upstream() { # name version
  local how
  case "$1" in
    pulumi-language-nodejs)
      how="install the official Pulumi CLI $2 (it ships its language host) and put it first on PATH:
    curl -fsSL https://get.pulumi.com | sh -s -- --version $2
    export PATH=\"\$HOME/.pulumi/bin:\$PATH\""
      ;;
    *)
      how="install the official plugin into ~/.pulumi/plugins (where this script looks for it):
    pulumi plugin install resource ${1#pulumi-resource-} $2"
      ;;
  esac
  die "$1 $2 is built from upstream sources in $upstream, which does not exist here
  (set HOMELAB_UPSTREAM_DIR to a copy of shared/upstream). To use the official binary instead,
  $how
  then run this again."
}

# Our go.mod for an upstream module must come from the upstream go.mod at hand:
# its header names that file's sha256.
check_go_mod() { # upstream ours
  [ "$2" = - ] && return 0
  local sum
  sum="$(sha256sum "$upstream/$1/go.mod" | cut -c1-64)"
  grep -q "sha256 $sum" "$here/$2/go.mod" ||
    die "toolchain/$2/go.mod was not made from $upstream/$1/go.mod (sha256 $sum): regenerate it as toolchain/README.md says"
}

# A writable scratch copy of an upstream module (the pristine tree stays as it
# is), with our go.mod and go.sum in place of upstream's when we have them.
upstream_copy() { # upstream ours dest
  rm -rf "$3"
  mkdir -p "$3"
  cp -R "$upstream/$1/." "$3/"
  chmod -R u+w "$3"
  if [ "$2" != - ]; then cp "$here/$2/go.mod" "$here/$2/go.sum" "$3/"; fi
}

build_one() { # name version pkg ldflag tags out builddir description
  local name="$1" version="$2" pkg="$3" ldflag="$4" tags="$5" out="$6"
  need_go
  local tmp="$out.tmp.$$" log="$out.log" t0=$SECONDS
  say "building $name $version ($8) ..."
  (
    cd "$7"
    exec nice -n 10 "$go_bin" build -trimpath -tags "$tags" \
      -ldflags "-s -w -X $ldflag" -o "$tmp" "$pkg"
  ) >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if kill -0 "$pid" 2>/dev/null && [ $(((SECONDS - t0) % 30)) -lt 5 ]; then
      say "  ... $name: $((SECONDS - t0))s"
    fi
  done
  if ! wait "$pid"; then
    rm -f "$tmp"
    sed 's/^/    /' "$log" | tail -n 40 >&2
    die "building $name $version failed after $((SECONDS - t0))s (full log: $log)"
  fi
  mv -f "$tmp" "$out"
  say "built $name $version in $((SECONDS - t0))s"
}

# Put a file into the bin dir: a hard link when possible (so the CLI sees its
# language host right next to its own resolved path), else a copy.
place() { # src dest
  rm -f "$2"
  ln "$1" "$2" 2>/dev/null || cp -p "$1" "$2"
}

# --- main ----------------------------------------------------------------------
# First decide where every binary comes from (so a missing source fails before
# any long build), then build what is neither cached nor reused.
mkdir -p "$cache"
only="${HOMELAB_TOOLCHAIN_ONLY:-}"
declare -a picked=() builds=()
for c in "${components[@]}"; do
  IFS='|' read -r name dir updir pkg version npm ldflag tags <<<"$c"
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then
    continue
  fi
  pinned="$(pinned_version "$npm")"
  if [ -n "$pinned" ] && [ "$pinned" != "$version" ]; then
    die "package.json pins $npm $pinned but toolchain/build.sh builds $name $version: update both together"
  fi

  if [ "$name" = pulumi-language-nodejs ] && found="$(official_langhost "$name" "$version")"; then
    src="$found"
    say "reusing $name $version next to the pulumi on PATH: $src"
  elif found="$(on_path_fits "$name" "$version")"; then
    src="$found"
    say "reusing $name $version from PATH: $src"
  elif [ "$updir" != - ] && [ ! -d "$upstream/$updir" ]; then
    found="$(installed_plugin "$name" "$version")" || no_upstream "$name" "$version"
    src="$found"
    say "reusing $name $version from the plugin cache: $src"
  elif [ "$updir" = - ] && [ ! -f "$here/$dir/go.mod" ]; then
    say "skipping $name: no wrapper module toolchain/$dir (see toolchain/README.md)"
    continue
  else
    [ "$updir" = - ] || check_go_mod "$updir" "$dir"
    src="$cache/$name-$version-$(src_hash "$dir" "$updir" "$ldflag" "$tags")/$name"
    if [ -x "$src" ]; then
      say "cached $name $version: $src"
    else
      builds+=("$c|$src")
    fi
  fi
  picked+=("$name|$version|$src")
  if [ "$name" = pulumi ] && [ -x "$src" ]; then schema_cli="$src"; fi
done

for b in "${builds[@]}"; do
  IFS='|' read -r name dir updir pkg version npm ldflag tags src <<<"$b"
  slot="$(dirname "$src")"
  mkdir -p "$slot"
  if [ "$updir" = - ]; then
    build_one "$name" "$version" "$pkg" "$ldflag" "$tags" "$src" "$here/$dir" "module wrapper toolchain/$dir"
  else
    upstream_copy "$updir" "$dir" "$slot/src"
    what="upstream $updir"
    [ "$dir" = - ] || what="$what with toolchain/$dir/go.mod"
    build_one "$name" "$version" "$pkg" "$ldflag" "$tags" "$src" "$slot/src" "$what"
    rm -rf "$slot/src"
  fi
done

keys=""
for p in "${picked[@]}"; do
  IFS='|' read -r name version src <<<"$p"
  keys="$keys $name=$src@$(stat -L -c %s-%Y "$src")"
done

[ "${#picked[@]}" -gt 0 ] || die "nothing selected"

bin="$cache/bin-$(printf '%s' "$keys" | sha256sum | cut -c1-12)"
if [ ! -f "$bin/.complete" ]; then
  rm -rf "$bin.tmp.$$"
  mkdir -p "$bin.tmp.$$"
  for p in "${picked[@]}"; do
    IFS='|' read -r name version src <<<"$p"
    place "$src" "$bin.tmp.$$/$name"
  done
  printf '%s\n' "$keys" >"$bin.tmp.$$/.complete"
  rm -rf "$bin"
  mv "$bin.tmp.$$" "$bin"
fi
ln -sfn "$(basename "$bin")" "$cache/current"

# Mark what this run uses, then drop cache entries no run has used for 14 days
# (older wrapper builds and versions; hard-linked bin dirs cost little).
touch "$bin"
for p in "${picked[@]}"; do
  IFS='|' read -r name version src <<<"$p"
  case "$src" in "$cache"/*) touch "$(dirname "$src")" ;; esac
done
find "$cache" -mindepth 1 -maxdepth 1 -type d -name '*-*' -mtime +14 -exec rm -rf {} + 2>/dev/null || true

if $install_plugins; then
  pulumi_home="${PULUMI_HOME:-$HOME/.pulumi}"
  for p in "${picked[@]}"; do
    IFS='|' read -r name version src <<<"$p"
    case "$name" in pulumi-resource-*) ;; *) continue ;; esac
    plugin="${name#pulumi-resource-}"
    if cmp -s "$pulumi_home/plugins/resource-$plugin-v$version/$name" "$bin/$name"; then
      continue
    fi
    say "installing plugin resource $plugin $version into $pulumi_home"
    PULUMI_HOME="$pulumi_home" PULUMI_SKIP_UPDATE_CHECK=true \
      "$bin/pulumi" plugin install resource "$plugin" "$version" --file "$bin/$name" >&2
  done
fi

say "ready in $((SECONDS - start_all))s: $(find "$bin" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ')"
printf '%s\n' "$bin"
