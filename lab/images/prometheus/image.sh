#!/usr/bin/env bash
# Makes the image prom/prometheus:v2.42.0 on the host's dockerd from Debian's prometheus package
# installed on this host (lab/host-setup.sh installs it; this script installs nothing) and saves it
# to a tarball in the cache, whose path is the LAST line of stdout (the lab `docker load`s it into
# each node's own dockerd). Progress goes to stderr. Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" prometheus-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=prom/prometheus:v2.42.0
version="$(deb_version prometheus 2.42.0 "$tag")"

# Where the package has them (dpkg -L prometheus) and where the official image has them.
bins=(/usr/bin/prometheus /usr/bin/promtool) # -> /bin/prometheus, /bin/promtool
examples=/usr/share/doc/prometheus/examples
# The official image's /etc/prometheus/prometheus.yml is upstream's documentation/examples/
# prometheus.yml (Prometheus scraping itself); Debian ships that same file as an example. Its
# /etc/prometheus/prometheus.yml (conffile) also scrapes localhost:9100, which a container lacks.
config="$examples/prometheus.yml"
# Debian ships the console templates upstream's image has in /usr/share/prometheus as examples
# (its /etc/prometheus/consoles holds only a README).
consoles="$examples/consoles" libraries="$examples/console_libraries"
# Debian builds Prometheus without the React UI: the binary serves the classic UI from this folder
# (--web.local-assets), whose static/ links to Debian's JavaScript packages. moment-timezone/data
# (214 MiB of zone files) is left out: the pages load only moment-timezone-with-data.min.js.
web=/usr/share/prometheus/web
ca=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates: scrapes and remote writes over https

if [ ! -f "$config" ] || [ ! -d "$consoles" ] || [ ! -d "$libraries" ]; then
  die "no $examples/{prometheus.yml,consoles,console_libraries}: dpkg excluded /usr/share/doc? (apt-get install --reinstall prometheus)"
fi
[ -f "$web/templates/graph.html" ] || die "no $web/templates: Debian's prometheus package is incomplete"
[ -f "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
deb_closure "${bins[@]}"
mapfile -t files < <(find -L "$consoles" "$libraries" "$web" -path "$web/static/moment-timezone/data" -prune -o -type f -print | sort)

# The recipe: the package version and every file the image holds (content and path: an apt upgrade
# of any of them makes a new image), the Dockerfile and the image scripts.
key="$({
  printf 'prometheus %s\n' "$version"
  sha256sum "${bins[@]}" "${deb_libs[@]}" "$config" "${files[@]}" "$ca"
} | lab_key "$here/Dockerfile" "$lab_debian")"

context() {
  local root="$1/rootfs" f
  for f in "${deb_libs[@]}" "${files[@]}"; do deb_copy "$root" "$f"; done
  deb_copy "$root" /usr/bin/prometheus /bin/prometheus
  deb_copy "$root" /usr/bin/promtool /bin/promtool
  deb_copy "$root" "$config" /etc/prometheus/prometheus.yml
  deb_copy "$root" "$ca" "$ca"
  # Upstream's paths for the console files (its CMD names them); the same links into
  # /etc/prometheus as the official image, where Debian's binary looks by default.
  mv "$root$consoles" "$root/usr/share/prometheus/consoles"
  mv "$root$libraries" "$root/usr/share/prometheus/console_libraries"
  rm -rf "$root/usr/share/doc"
  ln -s /usr/share/prometheus/consoles "$root/etc/prometheus/consoles"
  ln -s /usr/share/prometheus/console_libraries "$root/etc/prometheus/console_libraries"
  deb_etc "$root"
  mkdir -p "$1/data"
}
lab_image "$tag" "$key" "$lab_cache/prometheus" "$here/Dockerfile" context
