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
# shellcheck source=SCRIPTDIR/../go.sh
source "$here/../go.sh"
tag=traefik/whoami:v1.10.3

go_standin_build whoami whoami "the whoami stand-in"

# The image's recipe: the binary (its slot names its key), the Dockerfile and the image scripts.
key="$(printf '%s\n' "$slot" | lab_key "$here/Dockerfile")"

context() { lab_put "$bin" "$1/whoami"; }
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
