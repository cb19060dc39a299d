#!/usr/bin/env bash
# Makes the image restic/restic:0.14.0 on the host's dockerd from Debian's restic package installed
# on this host (lab/host-setup.sh installs it; this script installs nothing) and saves it to a
# tarball in the cache, whose path is the LAST line of stdout (the lab `docker load`s it into each
# node's own dockerd). Progress goes to stderr. Cached: a second run takes about a second.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" restic-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=restic/restic:0.14.0
version="$(deb_version restic 0.14.0 "$tag")"

# The package's binary, at the official image's path too (its entrypoint).
restic=/usr/bin/restic
# The official image's other packages, from this host's Debian ones: openssh-client (restic's sftp:
# backend runs `ssh HOST -s sftp`), ca-certificates (s3:, rest: and b2: over https) and tzdata
# (TZ=Area/City for snapshot times; Debian's Go build embeds no zone data; right/ and posix/ are
# left out, as for alertmanager). Its shell is Alpine's busybox: here Debian's static busybox.
ssh=/usr/bin/ssh
ca=/etc/ssl/certs/ca-certificates.crt
zoneinfo=/usr/share/zoneinfo
busybox=/bin/busybox

if [ ! -x "$ssh" ] || ! dpkg-query -W -f='${Status}' openssh-client 2>/dev/null | grep -q 'install ok installed'; then
  die "no ssh client at $ssh (apt-get install openssh-client)"
fi
[ -f "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
[ -f "$zoneinfo/Europe/Berlin" ] || die "no zone data in $zoneinfo (apt-get install tzdata)"
# Only the static build runs without the libraries below, and Debian's plain `busybox` package puts a
# dynamic one at the same path.
if [ ! -x "$busybox" ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  die "no static busybox at $busybox (apt-get install busybox-static)"
fi
deb_closure "$restic" "$ssh"
mapfile -t zones < <(find -L "$zoneinfo" -path "$zoneinfo/right" -prune -o -path "$zoneinfo/posix" -prune -o -type f -print | sort)
# Every applet at busybox's own path for it (bin/sh, usr/bin/wget, ...), as Alpine links them:
# a compose file's `sh -c` may use any of them. The list names bin/busybox itself; linuxrc is an
# init, no command.
mapfile -t applets < <("$busybox" --list-full | grep -vx -e bin/busybox -e linuxrc | sort)

# The recipe: the package version and every file the image holds (content and path: an apt upgrade
# of any of them makes a new image), busybox and its applets, the Dockerfile and the image scripts.
key="$({
  printf 'restic %s\n' "$version"
  sha256sum "$restic" "$ssh" "${deb_libs[@]}" "${zones[@]}" "$ca"
  printf '%s\n' "${applets[@]}"
} | lab_key "$here/Dockerfile" "$busybox" "$lab_debian")"

context() {
  local root="$1/rootfs" f a
  for f in "$restic" "$ssh" "${deb_libs[@]}" "${zones[@]}" "$ca"; do deb_copy "$root" "$f"; done
  deb_copy "$root" "$busybox"
  for a in "${applets[@]}"; do
    mkdir -p "$root/$(dirname "$a")"
    ln -s /bin/busybox "$root/$a"
  done
  # Not deb_etc: root's login shell is the image's shell, as Alpine's. ssh needs the user it runs
  # as in /etc/passwd, and reads ~/.ssh (known_hosts, keys) from that user's home; restic keeps its
  # cache in $HOME/.cache/restic.
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
  install -d -m 0700 "$root/root"
  # restic writes pack files to $TMPDIR (default /tmp) before it uploads them.
  install -d -m 1777 "$root/tmp"
}
lab_image "$tag" "$key" "$lab_cache/restic" "$here/Dockerfile" context
