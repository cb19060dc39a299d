#!/usr/bin/env bash
# Makes the lab's STAND-IN images (main.go here, not the real software: see its top comment) on the
# host's dockerd, one tag for each app in `standins` below, and saves ALL of them to ONE tarball in
# the cache, whose path is the LAST line of stdout (the lab `docker load`s it into each node's own
# dockerd once). Progress goes to stderr. Both the Go build and the images are cached: a second run
# takes about a second.
#
# lib.sh's lab_image makes and saves one tag, so the image step is this script's own: a base image
# holding the binary, tagged only on the host, then for each tag a metadata-only image over it.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" standin-image
# shellcheck source=SCRIPTDIR/../go.sh
source "$here/../go.sh"

# Each tag the compose files name and the ports its stand-in listens on (STANDIN_PORTS: N is HTTP,
# N/tcp accepts and closes). lab/images/index.ts lists the same tags (LAB_IMAGE_TAGS.standin and
# LAB_IMAGE_EXTRA_TAGS.standin), for the nodes' loads; tests/lab/images.lab.test.ts checks that the
# tarball holds exactly those.
standins=(
  "grafana/grafana:11.4.0 3000"
  "vaultwarden/server:1.32.7 80"
  "codeberg.org/forgejo/forgejo:9.0.3 3000,22/tcp"
  "ghcr.io/mealie-recipes/mealie:v2.4.2 9000"
  "minio/minio:RELEASE.2024-12-18T13-15-44Z 9000,9001"
  "ghcr.io/home-assistant/home-assistant:2024.12.5 8123"
  "tailscale/tailscale:v1.78.1"
)
# Never saved or loaded into a node: the tags above carry its layer.
base=homelab-lab-standin:base

go_standin_build standin standin "the stand-in"

# The images' recipe: the binary (its slot names its key), both Dockerfiles and the image scripts
# (this one holds the tags and ports).
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile" "$here/tag.Dockerfile")"
tarball="$slot/image-$key.tar"
tags=()
for s in "${standins[@]}"; do tags+=("${s%% *}"); done

# One image step at a time per slot, as lib.sh's: two lab runs would otherwise race on the tarball.
exec 9>"$slot/.image.lock"
flock 9

# Current only if the base and every tag carry this recipe; the IDs they name now are what a
# rebuild leaves behind, the base last since the old tags' images stand on it.
current=1
old=()
for t in "${tags[@]}" "$base"; do
  id="" have=""
  read -r id have < <(docker image inspect --format '{{.Id}} {{index .Config.Labels "homelab.lab.recipe"}}' "$t" 2>/dev/null) || true
  [ "$have" = "$key" ] || current=0
  if [ -n "$id" ]; then old+=("$id"); fi
done

# build DOCKERFILE CONTEXT TAG [--build-arg ...]: the classic builder (this dockerd has no buildx),
# with the labels lib.sh gives every lab image.
build() {
  local dockerfile="$1" ctx="$2" tag="$3"
  shift 3
  DOCKER_BUILDKIT=0 docker build --quiet -f "$dockerfile" "$@" \
    --label homelab.lab=service-image --label "homelab.lab.recipe=$key" \
    -t "$tag" "$ctx" >&2
}

if [ "$current" = 1 ]; then
  say "images current (recipe $key): $base and ${#tags[@]} tags"
else
  ctx="$slot/context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  say "docker build $base (recipe $key)"
  lab_put "$bin" "$ctx/rootfs/standin"
  mkdir -p "$ctx/rootfs/bin"
  ln -s /standin "$ctx/rootfs/bin/sh"
  build "$here/Dockerfile" "$ctx" "$base"
  # The tags' builds send no files: the context holds only what the base build needed.
  rm -rf "$ctx/rootfs"
  for s in "${standins[@]}"; do
    t="${s%% *}"
    ports=""
    if [ "$s" != "$t" ]; then ports="${s#* }"; fi
    repo="${t%:*}"
    say "docker build $t (STANDIN_PORTS=${ports:-none})"
    build "$here/tag.Dockerfile" "$ctx" "$t" --build-arg "BASE=$base" \
      --build-arg "STANDIN_FOR=$t" --build-arg "STANDIN_PORTS=$ports" \
      --build-arg "TITLE=${repo##*/}" --build-arg "VERSION=${t##*:}"
  done
  rm -rf "$ctx"
  rm -f "$tarball"
  # What the tags named before is dead weight now, unless a container still uses it; an ID a tag
  # still names (a rebuild the builder's cache made identical) stays.
  now="$(docker image inspect --format '{{.Id}}' "${tags[@]}" "$base")"
  for id in "${old[@]}"; do
    if ! grep -qxF "$id" <<<"$now"; then docker rmi "$id" >/dev/null 2>&1 || true; fi
  done
fi

if [ ! -f "$tarball" ]; then
  say "docker save ${#tags[@]} tags into one tarball"
  docker save -o "$tarball.tmp" "${tags[@]}"
  mv "$tarball.tmp" "$tarball"
  find "$slot" -maxdepth 1 -name 'image-*.tar' ! -path "$tarball" -delete
fi
say "ready: ${tags[*]}; $(du -m "$tarball" | cut -f1) MiB saved"
printf '%s\n' "$tarball"
