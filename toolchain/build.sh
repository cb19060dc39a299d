#!/usr/bin/env bash
# Builds (or reuses) the Pulumi CLI, the Node.js language host and the provider
# plugins this project needs, from the Go module proxy only, and prints the
# directory that holds them all on the LAST line of stdout. Progress goes to
# stderr. See toolchain/README.md.
#
#   bash toolchain/build.sh                    # build or reuse; print the bin dir
#   bash toolchain/build.sh --install-plugins  # also install the provider plugins
#                                              # into ${PULUMI_HOME:-~/.pulumi}
#
# Environment:
#   HOMELAB_TOOLCHAIN_DIR  cache root (default ~/.cache/homelab/toolchain)
#   HOMELAB_TOOLCHAIN_ONLY space-separated binary names to consider (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${HOMELAB_TOOLCHAIN_DIR:-$HOME/.cache/homelab/toolchain}"
install_plugins=false
for arg in "$@"; do
  case "$arg" in
    --install-plugins) install_plugins=true ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" >&2
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
# name | wrapper dir (under toolchain/) | Go package | version | npm package | -ldflags -X | build tags
components=(
  "pulumi|pulumi|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|3.259.0|@pulumi/pulumi|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.259.0|osusergo,grpcnotrace"
  "pulumi-language-nodejs|langhost|.|3.259.0|@pulumi/pulumi|main.Version=3.259.0|osusergo"
  "pulumi-resource-command|command|.|1.2.1|@pulumi/command|main.version=1.2.1|osusergo"
  "pulumi-resource-random|random|.|4.21.1|@pulumi/random|main.version=4.21.1|osusergo"
  "pulumi-resource-tls|tls|.|5.5.1|@pulumi/tls|main.version=5.5.1|osusergo"
  "pulumi-resource-docker|docker|.|5.2.0|@pulumi/docker|main.version=5.2.0|osusergo,no_compose"
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
# Hash of everything that decides a binary: our wrapper sources and the flags.
src_hash() { # dir (under toolchain/) ldflags tags
  local dir="$1"
  {
    printf '%s\n%s\n' "$2" "$3"
    # The wrapper module plus the local stub modules some wrappers replace in.
    (cd "$here" && find "$dir" stubs -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-12
}

# Print the version a binary reports, or nothing: `pulumi version` for the CLI,
# `-version` for provider plugins (the flag bridged and native providers share).
reported_version() { # name binary
  local out
  case "$1" in
    pulumi) out="$(PULUMI_SKIP_UPDATE_CHECK=true timeout 20 "$2" version 2>/dev/null || true)" ;;
    pulumi-resource-*) out="$(timeout 10 "$2" -version </dev/null 2>/dev/null || true)" ;;
    *) out="" ;;
  esac
  printf '%s' "$out" | head -n1 | tr -d '[:space:]' | sed 's/^v//'
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

build_one() { # name dir pkg version ldflag tags out
  local name="$1" dir="$2" pkg="$3" version="$4" ldflag="$5" tags="$6" out="$7"
  need_go
  local tmp="$out.tmp.$$" log="$out.log" t0=$SECONDS
  say "building $name $version (module wrapper toolchain/$dir) ..."
  (
    cd "$here/$dir"
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
mkdir -p "$cache"
only="${HOMELAB_TOOLCHAIN_ONLY:-}"
declare -a picked=()
keys=""
for c in "${components[@]}"; do
  IFS='|' read -r name dir pkg version npm ldflag tags <<<"$c"
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then
    continue
  fi
  pinned="$(pinned_version "$npm")"
  if [ -n "$pinned" ] && [ "$pinned" != "$version" ]; then
    die "package.json pins $npm $pinned but toolchain/build.sh builds $name $version: update both together"
  fi
  if [ ! -f "$here/$dir/go.mod" ]; then
    say "skipping $name: no wrapper module toolchain/$dir (see toolchain/README.md)"
    continue
  fi

  src=""
  if [ "$name" = pulumi-language-nodejs ] && [ -n "${reuse_dir:-}" ] && [ -x "$reuse_dir/$name" ]; then
    src="$reuse_dir/$name"
    say "reusing $name next to the pulumi on PATH: $src"
  elif found="$(on_path_fits "$name" "$version")"; then
    src="$found"
    say "reusing $name $version from PATH: $src"
    [ "$name" = pulumi ] && reuse_dir="$(dirname "$(readlink -f "$found")")"
  else
    hash="$(src_hash "$dir" "$ldflag" "$tags")"
    slot="$cache/$name-$version-$hash"
    src="$slot/$name"
    if [ -x "$src" ]; then
      say "cached $name $version: $src"
    else
      mkdir -p "$slot"
      build_one "$name" "$dir" "$pkg" "$version" "$ldflag" "$tags" "$src"
    fi
  fi
  picked+=("$name|$version|$src")
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

say "ready in $((SECONDS - start_all))s: $(find "$bin" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f ' | LC_ALL=C sort)"
printf '%s\n' "$bin"
