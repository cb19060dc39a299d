#!/usr/bin/env bash
# Makes the image prom/alertmanager:v0.25.0 on the host's dockerd from Debian's
# prometheus-alertmanager package installed on this host (lab/host-setup.sh installs it; this
# script installs nothing) and saves it to a tarball in the cache, whose path is the LAST line of
# stdout (the lab `docker load`s it into each node's own dockerd). Progress goes to stderr.
# Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" alertmanager-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=prom/alertmanager:v0.25.0
version="$(deb_version prometheus-alertmanager 0.25.0 "$tag")"

# Where the package has them (dpkg -L prometheus-alertmanager); the image has the binaries at the
# official image's /bin/alertmanager and /bin/amtool.
bins=(/usr/bin/prometheus-alertmanager /usr/bin/amtool)
# Debian's binary reads its notification templates (default.tmpl, email.tmpl) and web UI from this
# folder instead of embedding them: without default.tmpl no notification can be rendered. Its ui/
# is empty (Debian does not build the Elm UI), so the binary serves the no-ui page there.
share=/usr/share/prometheus/alertmanager
ca=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates: webhooks, mail and chat over TLS
# The package depends on tzdata: a time_interval's `location` is looked up there (Debian's Go build
# embeds no zone data), and a config naming one fails to load without it. right/ (leap-second
# variants) and posix/ (duplicates) are left out; 4 MiB.
zoneinfo=/usr/share/zoneinfo

[ -f "$share/default.tmpl" ] || die "no $share/default.tmpl: Debian's prometheus-alertmanager package is incomplete"
[ -f "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
[ -f "$zoneinfo/Europe/Berlin" ] || die "no zone data in $zoneinfo (apt-get install tzdata)"
deb_closure "${bins[@]}"
# generate-ui.sh is a build helper (needs a shell and Elm), not something the server reads.
mapfile -t files < <({
  find -L "$share" -type f ! -name generate-ui.sh -print
  find -L "$zoneinfo" -path "$zoneinfo/right" -prune -o -path "$zoneinfo/posix" -prune -o -type f -print
} | sort)

# The recipe: the package version and every file the image holds (content and path: an apt upgrade
# of any of them makes a new image), the default config, the Dockerfile and the image scripts.
key="$({
  printf 'prometheus-alertmanager %s\n' "$version"
  sha256sum "${bins[@]}" "${deb_libs[@]}" "${files[@]}" "$ca"
} | lab_key "$here/Dockerfile" "$here/alertmanager.yml" "$lab_debian")"

context() {
  local root="$1/rootfs" f
  for f in "${deb_libs[@]}" "${files[@]}"; do deb_copy "$root" "$f"; done
  mkdir -p "$root$share/ui"
  deb_copy "$root" /usr/bin/prometheus-alertmanager /bin/alertmanager
  deb_copy "$root" /usr/bin/amtool /bin/amtool
  deb_copy "$root" "$here/alertmanager.yml" /etc/alertmanager/alertmanager.yml
  deb_copy "$root" "$ca" "$ca"
  deb_etc "$root"
  mkdir -p "$1/data"
}
lab_image "$tag" "$key" "$lab_cache/alertmanager" "$here/Dockerfile" context
