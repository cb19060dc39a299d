# shellcheck shell=bash
# Shared by the image scripts that put a Debian package's binaries on scratch (prometheus,
# alertmanager, node-exporter; sourced after lib.sh, never run): the version check, the
# shared-library closure and the minimal /etc those images have in common. A file of its own, not
# part of lib.sh: lib.sh's text is in every lab image's recipe, so editing it would rebuild all of
# them (Traefik from source, ~7 min) and, while an older checkout shares the cache, the two would
# take turns replacing each other's images. The image scripts pass this file to lab_key themselves.

# shellcheck disable=SC2034 # for the image scripts, which hash it into their recipe
lab_debian="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debian.sh"

# deb_version PACKAGE UPSTREAM TAG: prints the installed Debian version of PACKAGE, or stops the
# build when the package is missing (lab/host-setup.sh installs it; image scripts install nothing)
# or packages another upstream version: TAG promises UPSTREAM, and a newer Debian release must not
# hide behind it. Debian appends "+ds" (repacked source) or "-N" (its revision) to upstream's.
deb_version() {
  local pkg="$1" upstream="$2" tag="$3" version
  version="$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)" ||
    die "Debian's $pkg package is not installed (lab/host-setup.sh installs it: apt-get install -y --no-install-recommends $pkg)"
  case "$version" in
    "$upstream"[-+]*) ;;
    *) die "Debian's $pkg is $version, not $upstream: the tag $tag would be wrong" ;;
  esac
  printf '%s\n' "$version"
}

# deb_closure BINARY...: sets deb_libs to the shared libraries the binaries link, as this host's
# loader resolves them (the loader included: ldd names it by its absolute path, libraries
# as `soname => path`). Debian links its Go programs against glibc (cgo), unlike upstream's static
# builds. A missing library would only show when the container starts, so it stops the build here.
# A global, not printed: a die inside $(...) would end only the subshell.
deb_libs=()
deb_closure() {
  local bin out all=""
  for bin in "$@"; do
    out="$(ldd "$bin")" || die "ldd $bin failed"
    if grep -q 'not found' <<<"$out"; then die "$bin has unresolved libraries: $(grep 'not found' <<<"$out" | tr -s '\t\n' '  ')"; fi
    all+="$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")"$'\n'
  done
  mapfile -t deb_libs < <(sort -u <<<"$all" | sed '/^$/d')
  [ "${#deb_libs[@]}" -gt 0 ] || die "ldd listed no libraries for $*"
}

# deb_copy ROOT FILE [DEST]: FILE at ROOT/DEST (DEST defaults to FILE's own path). Dereferenced:
# Debian links libraries and its web assets to versioned or shared files, and the image needs the
# content under the name the program asks for.
deb_copy() {
  local root="$1" file="$2" dest="${3:-$2}"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$file" "$root$dest"
}

# deb_etc ROOT: the /etc the official Prometheus images (busybox) have for their user: root and
# nobody (65534:65534), so that `USER nobody` resolves; no login shells. nsswitch.conf as on Debian:
# /etc/hosts (docker writes it with the container's name) before DNS.
deb_etc() {
  local root="$1"
  mkdir -p "$root/etc"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/home:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
}
