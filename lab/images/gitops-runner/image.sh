#!/usr/bin/env bash
# Makes the lab's build of the GitOps runner's image (see the Dockerfile here) on the host's dockerd
# and saves it to a tarball in the cache, whose path is the LAST line of stdout (the GitOps cluster
# e2e `docker load`s it into the node labelled gitops). Progress goes to stderr. Cached: a second
# run takes seconds.
#
# Environment (lab/images/gitopsRunner.ts sets it):
#   HOMELAB_GITOPS_RUNNER_TAG  the tag (compose/gitops.ts runnerImageTag: the platform's)
#   HOMELAB_TOOLCHAIN_BIN      the toolchain's bin dir (npm run toolchain)
#   HOMELAB_GITOPS_LOCKFILE    the program's package-lock.json, whose packages npm's cache holds
#   HOMELAB_LAB_CACHE          where debootstrap keeps its .debs (shared with the node image)
#   HOMELAB_LAB_MIRROR         Debian's archive (default http://deb.debian.org/debian)
#   HOMELAB_LAB_IMAGE_CACHE    the cache root (default ~/.cache/homelab/lab-images)
# A first build runs debootstrap (~1-2 min, ~40 MB of .debs) and npm ci against the registry
# (~1 min) into the cache; the image build itself copies ~900 MB.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" gitops-runner-image
tag=${HOMELAB_GITOPS_RUNNER_TAG:?the image tag}
bin=${HOMELAB_TOOLCHAIN_BIN:?the toolchain bin dir (npm run toolchain)}
lockfile=${HOMELAB_GITOPS_LOCKFILE:?the program\'s package-lock.json}
debs=${HOMELAB_LAB_CACHE:-/var/cache/homelab-lab}/debs
mirror=${HOMELAB_LAB_MIRROR:-http://deb.debian.org/debian}
include=git,openssh-client,ca-certificates
slot="$lab_cache/gitops-runner"
mkdir -p "$slot" "$debs"
exec 8>"$slot/.parts.lock"
flock 8

node=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$npm_dir/package.json" ] || die "no npm package at $npm_dir"
binaries=(pulumi pulumi-language-nodejs pulumi-resource-command pulumi-resource-random pulumi-resource-tls)
for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || die "no $b in $bin (npm run toolchain)"; done

# The Debian root: made once per package list, reused after.
root_key=$(printf 'bookworm minbase %s\n' "$include" | sha256sum | cut -c1-12)
root="$slot/rootfs-$root_key.tar"
if [ ! -f "$root" ]; then
  say "debootstrap bookworm (minbase + $include; .debs cached in $debs)"
  tree=$(mktemp -d "$slot/rootfs.XXXXXX")
  trap 'rm -rf --one-file-system "$tree"' EXIT
  debootstrap --variant=minbase --include="$include" --cache-dir="$debs" bookworm "$tree" "$mirror" >"$slot/debootstrap.log" 2>&1 || {
    tail -n 30 "$slot/debootstrap.log" >&2
    die "debootstrap failed (log: $slot/debootstrap.log)"
  }
  rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/* "$tree"/usr/share/doc/* "$tree"/usr/share/man/*
  # /dev is the container runtime's.
  tar -C "$tree" --numeric-owner --exclude='./dev/*' -cf "$root.tmp" .
  mv "$root.tmp" "$root"
  rm -rf --one-file-system "$tree"
  trap - EXIT
  find "$slot" -maxdepth 1 -name 'rootfs-*.tar' ! -path "$root" -delete
fi

# npm's cache with every package of the lockfile: the runner's npm ci runs offline from it.
lock_key=$(sha256sum "$lockfile" | cut -c1-12)
cache="$slot/npm-cache-$lock_key"
if [ ! -d "$cache" ]; then
  say "npm ci into a cache for the lockfile $lock_key (from the registry)"
  work=$(mktemp -d "$slot/npm.XXXXXX")
  cp "$lockfile" "$work/package-lock.json"
  cp "$(dirname "$lockfile")/package.json" "$work/package.json"
  (cd "$work" && npm ci --cache "$work/cache" --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  mv "$work/cache" "$cache"
  rm -rf "$work"
  find "$slot" -maxdepth 1 -name 'npm-cache-*' ! -path "$cache" -exec rm -rf {} +
fi

key="$({
  printf 'root %s\nlock %s\nnode %s\n' "$root_key" "$lock_key" "$(node --version)"
  sha256sum "$node" "${binaries[@]/#/$bin/}" | cut -c1-64
} | lab_key "$here/Dockerfile")"

context() {
  local ctx="$1"
  lab_put "$root" "$ctx/rootfs.tar"
  mkdir -p "$ctx/node/bin" "$ctx/node/lib/node_modules" "$ctx/pulumi"
  lab_put "$node" "$ctx/node/bin/node"
  cp -a "$npm_dir" "$ctx/node/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/node/bin/npx"
  for b in "${binaries[@]}"; do lab_put "$bin/$b" "$ctx/pulumi/$b"; done
  cp -a "$cache" "$ctx/npm-cache"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
