#!/usr/bin/env bash
# Makes the image prom/node-exporter:v1.5.0 on the host's dockerd from Debian's
# prometheus-node-exporter package installed on this host (lab/host-setup.sh installs it; this
# script installs nothing) and saves it to a tarball in the cache, whose path is the LAST line of
# stdout (the lab `docker load`s it into each node's own dockerd). Progress goes to stderr.
# Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" node-exporter-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=prom/node-exporter:v1.5.0
version="$(deb_version prometheus-node-exporter 1.5.0 "$tag")"

# Where the package has it (dpkg -L prometheus-node-exporter); the image has it at the official
# image's /bin/node_exporter. The exporter reads /proc and /sys only: no data files, no CA bundle.
bin=/usr/bin/prometheus-node-exporter
deb_closure "$bin"

# The recipe: the package version, the binary and its libraries (content and path: an apt upgrade
# of any of them makes a new image), the Dockerfile and the image scripts.
key="$({
  printf 'prometheus-node-exporter %s\n' "$version"
  sha256sum "$bin" "${deb_libs[@]}"
} | lab_key "$here/Dockerfile" "$lab_debian")"

context() {
  local root="$1/rootfs" f
  for f in "${deb_libs[@]}"; do deb_copy "$root" "$f"; done
  deb_copy "$root" "$bin" /bin/node_exporter
  # Debian's default --collector.textfile.directory (upstream's is unset), empty as the package
  # leaves it: without it every scrape reports node_textfile_scrape_error 1 and logs an error.
  mkdir -p "$root/var/lib/prometheus/node-exporter"
  deb_etc "$root"
}
lab_image "$tag" "$key" "$lab_cache/node-exporter" "$here/Dockerfile" context
