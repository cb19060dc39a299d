#!/usr/bin/env bash
# Makes the image haproxy:2.6.12 on the host's dockerd from Debian's haproxy package installed on
# this host (lab/host-setup.sh installs it; this script installs nothing) and saves it to a tarball
# in the cache, whose path is the LAST line of stdout (the lab `docker load`s it into each node's
# own dockerd). Progress goes to stderr. Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" haproxy-image
tag=haproxy:2.6.12
bin=/usr/sbin/haproxy

[ -x "$bin" ] || die "no $bin: the image is made from Debian's haproxy package (apt-get install -y haproxy)"
version="$(dpkg-query -W -f='${Version}' haproxy 2>/dev/null)" ||
  die "$bin is not from Debian's haproxy package (apt-get install -y haproxy)"
# The tag promises 2.6.12; another upstream version (a newer Debian release) must not hide behind it.
case "$version" in
  2.6.12-*) ;;
  *) die "Debian's haproxy is $version, not 2.6.12: the tag $tag would be wrong" ;;
esac

# The shared-library closure as this host's loader resolves it (the loader included: ldd names it
# by its absolute path, libraries as `soname => path`). A missing library would only show when the
# container starts, so it stops the build here.
ldd_out="$(ldd "$bin")" || die "ldd $bin failed"
if grep -q 'not found' <<<"$ldd_out"; then die "$bin has unresolved libraries: $(grep 'not found' <<<"$ldd_out" | tr -s '\t\n' '  ')"; fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
[ "${#libs[@]}" -gt 0 ] || die "ldd $bin listed no libraries"

# The image's recipe: the package version, the binary and every library (content and path: an
# apt upgrade of any of them makes a new image), the Dockerfile and the image scripts.
key="$({
  printf 'haproxy %s\n' "$version"
  sha256sum "$bin" "${libs[@]}"
} | lab_key "$here/Dockerfile")"

context() {
  local root="$1/rootfs" f
  for f in "$bin" "${libs[@]}"; do
    mkdir -p "$root$(dirname "$f")"
    # -L: several of these paths are symlinks to versioned files; the image needs the file under
    # the name the loader asks for.
    cp -L "$f" "$root$f"
  done
  mkdir -p "$root/etc" "$root/usr/local/etc/haproxy" "$1/home"
  # Enough for `USER haproxy`, haproxy's own `user`/`group` lines and getpwnam; no login shells.
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'haproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'haproxy:x:99:' >"$root/etc/group"
  # As on Debian (and in the official image): /etc/hosts, which docker writes with the
  # container's own name, before DNS; without the file glibc falls back to its built-in order.
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
}
lab_image "$tag" "$key" "$lab_cache/haproxy" "$here/Dockerfile" context
