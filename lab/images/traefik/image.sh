#!/usr/bin/env bash
# Makes the image traefik:v3.7.13 on the host's dockerd from the binary build.sh
# builds (or reuses) and saves it to a tarball in the cache, whose path is the LAST
# line of stdout (the lab `docker load`s it into each node's own dockerd). Progress
# goes to stderr. Both steps are cached: a second run takes about a second.
#
# Environment: as build.sh (HOMELAB_LAB_IMAGE_CACHE, HOMELAB_UPSTREAM_DIR).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=traefik:v3.7.13
ca=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates

t0=$SECONDS
say() { printf '[traefik-image +%ss] %s\n' "$((SECONDS - t0))" "$*" >&2; }

[ -f "$ca" ] || {
  say "error: no CA bundle at $ca (apt-get install ca-certificates)"
  exit 1
}
bin="$(bash "$here/build.sh" | tail -n1)"
slot="$(dirname "$bin")" # keyed by build.sh's inputs: old images go with old binaries

# The image's recipe: the binary (its slot names its key), the Dockerfile, this
# script and the CA bundle.
key="$({
  printf '%s\n' "$bin"
  sha256sum "$here/Dockerfile" "${BASH_SOURCE[0]}" "$ca" | cut -c1-64
} | sha256sum | cut -c1-12)"
tarball="$slot/image-$key.tar"
# One image step at a time (build.sh has its own lock).
exec 9>"$slot/.image.lock"
flock 9

old="" have=""
read -r old have < <(docker image inspect --format '{{.Id}} {{index .Config.Labels "homelab.lab.recipe"}}' "$tag" 2>/dev/null) || true
if [ "$have" != "$key" ]; then
  say "docker build $tag (recipe $key)"
  ctx="$slot/context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  # Only what the image holds goes into the context (a hard link costs no copy).
  ln "$bin" "$ctx/traefik" 2>/dev/null || cp "$bin" "$ctx/traefik"
  cp "$ca" "$ctx/ca-certificates.crt"
  # The classic builder: this dockerd has no buildx.
  DOCKER_BUILDKIT=0 docker build --quiet -f "$here/Dockerfile" \
    --label homelab.lab=service-image --label "homelab.lab.recipe=$key" \
    -t "$tag" "$ctx" >&2
  rm -rf "$ctx"
  rm -f "$tarball"
  # The image this tag named before is dead weight now, unless a container still uses it.
  if [ -n "$old" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
else
  say "image $tag is current (recipe $key)"
fi

if [ ! -f "$tarball" ]; then
  say "docker save $tag"
  docker save -o "$tarball.tmp" "$tag"
  mv "$tarball.tmp" "$tarball"
  find "$slot" -maxdepth 1 -name 'image-*.tar' ! -path "$tarball" -delete
fi
say "ready: $tag, $(du -m "$tarball" | cut -f1) MiB saved"
printf '%s\n' "$tarball"
