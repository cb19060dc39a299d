#!/usr/bin/env bash
# Makes the image traefik:v3.7.13 on the host's dockerd from the binary build.sh
# builds (or reuses) and saves it to a tarball in the cache, whose path is the LAST
# line of stdout (the lab `docker load`s it into each node's own dockerd). Progress
# goes to stderr. Both steps are cached: a second run takes about a second.
#
# Environment: as build.sh (HOMELAB_LAB_IMAGE_CACHE, HOMELAB_UPSTREAM_DIR).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" traefik-image
tag=traefik:v3.7.13
ca=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates

[ -f "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
bin="$(bash "$here/build.sh" | tail -n1)"
slot="$(dirname "$bin")" # keyed by build.sh's inputs: old images go with old binaries

# The image's recipe: the binary (its slot names its key), the Dockerfile, the
# image scripts and the CA bundle.
key="$(printf '%s\n' "$bin" | lab_key "$here/Dockerfile" "$ca")"

context() {
  lab_put "$bin" "$1/traefik"
  cp "$ca" "$1/ca-certificates.crt"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
