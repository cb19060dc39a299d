#!/usr/bin/env bash
# Makes the image node:18.20.4-bookworm-slim on the host's dockerd from Debian bookworm's own
# nodejs package (18.20.4+dfsg-1~deb12u*, bookworm-security) and saves it to a tarball in the
# cache, whose path is the LAST line of stdout (the lab `docker load`s it into each node's own
# dockerd). Progress goes to stderr. Cached: a second run takes about a second.
#
# Debian's nodejs cannot be installed on this host: nodesource's Node 20 holds the package name
# `nodejs`. So this script fetches Debian's .debs with `apt-get download` (nodejs, libnode108 and
# every package their Depends need that the host has not installed in a version that satisfies
# them) into the cache and unpacks them there with `dpkg-deb -x`; it installs nothing. The host's
# own installed libraries (glibc, ICU, OpenSSL, libuv, ...) fill in the rest of the ldd closure,
# as for the other Debian images. A new machine therefore fetches ~12 MB of .debs from Debian's
# archive on its first build (apt must know bookworm-security: `apt-get update`), and again after
# an apt update brings a new version of one of them, which makes a new image.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh" node-image
# shellcheck source=SCRIPTDIR/../debian.sh
source "$here/../debian.sh"
tag=node:18.20.4-bookworm-slim
upstream=18.20.4
slot="$lab_cache/node"
debs="$slot/debs"     # the .debs apt-get downloaded, as apt names them (package_version_arch.deb)
list="$slot/debs.txt" # the apt state they were resolved for, then `package version file` lines
tree="$slot/root"     # the .debs unpacked, reused while $list is unchanged
mkdir -p "$slot"
# The .debs and their unpacked tree are shared like the image: two runs at once must not
# download or unpack into the same place. lab_image's own lock (fd 9) is taken after this one.
exec 8>"$slot/.debs.lock"
flock 8

# Each apt-cache call takes ~1 s here (this host keeps no pkgcache.bin), so the resolution runs
# only when the apt lists, the installed packages or this script changed since the last one.
mapfile -t apt_lists < <(compgen -G '/var/lib/apt/lists/*_Packages*' || true)
[ "${#apt_lists[@]}" -gt 0 ] || die "no apt package lists in /var/lib/apt/lists: apt-get update"
apt_state="$({
  stat -c '%n %s %Y' "${apt_lists[@]}" /var/lib/dpkg/status
  sha256sum "$lab_script"
} | sha256sum | cut -c1-64)"

# node_resolve: sets want_pkgs/want_vers to Debian's nodejs $upstream (the newest revision the
# archive has) and, recursively, every package their Depends and Pre-Depends name that neither the
# set nor the host's installed packages satisfy; each at the version an `=` asks for, else at
# apt's candidate. Recommends (ca-certificates, nodejs-doc) are left out: the host's CA bundle goes
# in below. A dependency the host satisfies only through a virtual package counts as unsatisfied,
# and one only a virtual package can satisfy stops the build naming it.
want_pkgs=() want_vers=()
declare -A want=() provided=()
dep_re='^[[:space:]]*([^[:space:]:(]+)(:[a-z0-9]+)?[[:space:]]*(\(([<>=]+)[[:space:]]*([^)[:space:]]+)\))?[[:space:]]*$'
node_resolve() {
  local v best=""
  for v in $(apt-cache madison nodejs | awk -F' [|] ' '{ print $2 }'); do
    case "$v" in "$upstream"+dfsg-*) ;; *) continue ;; esac
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best="$v"; fi
  done
  [ -n "$best" ] || die "Debian's archive offers no nodejs $upstream+dfsg-* (is bookworm-security in apt's sources? apt-get update)"
  local queue=("nodejs=$best") next pkg deps provides p group alt name op ver ok have cand
  local -a groups alts provs
  want[nodejs]="$best"
  want_pkgs+=(nodejs) want_vers+=("$best")
  while [ "${#queue[@]}" -gt 0 ]; do
    next=()
    # One line per package: name, its Depends and Pre-Depends joined, its Provides. Separated by
    # `;`, which no dependency field holds: read would merge empty fields between tabs.
    while IFS=';' read -r pkg deps provides; do
      IFS=',' read -ra provs <<<"$provides"
      for p in "${provs[@]}"; do
        p="${p#"${p%%[![:space:]]*}"}"
        [ -z "$p" ] || provided[${p%% *}]=1
      done
      IFS=',' read -ra groups <<<"$deps"
      for group in "${groups[@]}"; do
        ok=""
        IFS='|' read -ra alts <<<"$group"
        for alt in "${alts[@]}"; do
          [[ $alt =~ $dep_re ]] || die "cannot read $pkg's dependency \"$alt\""
          name="${BASH_REMATCH[1]}" op="${BASH_REMATCH[4]}" ver="${BASH_REMATCH[5]}"
          if [ -n "${want[$name]:-}" ]; then
            if [ -z "$op" ] || dpkg --compare-versions "${want[$name]}" "$op" "$ver"; then ok=1 && break; fi
            die "$pkg needs $name ($op $ver), the set has ${want[$name]}"
          fi
          if [ -z "$op" ] && [ -n "${provided[$name]:-}" ]; then ok=1 && break; fi
          have="$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$name" 2>/dev/null | awk '$1 ~ /^.i/ { print $2; exit }')" || true
          if [ -n "$have" ] && { [ -z "$op" ] || dpkg --compare-versions "$have" "$op" "$ver"; }; then ok=1 && break; fi
        done
        [ -n "$ok" ] && continue
        # Unsatisfied: the first alternative the archive has in a fitting version joins the set.
        for alt in "${alts[@]}"; do
          [[ $alt =~ $dep_re ]]
          name="${BASH_REMATCH[1]}" op="${BASH_REMATCH[4]}" ver="${BASH_REMATCH[5]}"
          if [ "$op" = "=" ]; then
            cand="$ver"
          else
            cand="$(apt-cache policy "$name" | awk '/^  Candidate:/ { print $2; exit }')"
            if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then continue; fi
            [ -z "$op" ] || dpkg --compare-versions "$cand" "$op" "$ver" || continue
          fi
          want[$name]="$cand"
          want_pkgs+=("$name") want_vers+=("$cand")
          next+=("$name=$cand")
          ok=1 && break
        done
        [ -n "$ok" ] || die "$pkg needs \"$group\": not installed here and no fitting version in apt's archive (a virtual package? add a real one to the set)"
      done
    done < <(apt-cache show "${queue[@]}" | awk '
      function flush() { if (p != "" && !(p in seen)) { seen[p] = 1; print p ";" d ";" v } p = ""; d = ""; v = "" }
      /^$/ { flush(); next }
      /^[^ ]/ { f = $1 }
      /^Package: / { p = $2 }
      /^(Depends|Pre-Depends): / { sub(/^[^:]+: /, ""); d = (d == "" ? $0 : d ", " $0); next }
      /^Provides: / { sub(/^Provides: /, ""); v = $0; next }
      /^ / && (f == "Depends:" || f == "Pre-Depends:") { d = d $0 }
      END { flush() }')
    queue=("${next[@]+"${next[@]}"}")
  done
}

# The .debs for the current apt state: reused when $list says they were resolved for it and they
# are all still there. Otherwise resolved again, and downloaded only when the set changed (a
# package installed elsewhere on the host changes the state, rarely the set).
debs_present() {
  local pkg ver file
  [ -f "$list" ] || return 1
  while read -r pkg ver file; do [ -f "$debs/$file" ] || return 1; done < <(tail -n +2 "$list")
}
if ! debs_present || [ "$(head -n1 "$list")" != "state $apt_state" ]; then
  say "resolving Debian's nodejs $upstream and the dependencies the host lacks (apt-cache, a few seconds)"
  node_resolve
  specs=()
  for i in "${!want_pkgs[@]}"; do specs+=("${want_pkgs[$i]} ${want_vers[$i]}"); done
  if debs_present && [ "$(tail -n +2 "$list" | cut -d' ' -f1,2)" = "$(printf '%s\n' "${specs[@]}")" ]; then
    say "the same .debs as before: $(tail -n +2 "$list" | cut -d' ' -f3 | tr '\n' ' ')"
    { printf 'state %s\n' "$apt_state"; tail -n +2 "$list"; } >"$list.new"
  else
    say "apt-get download ${specs[*]// /=}"
    rm -rf "$debs.new"
    mkdir -p "$debs.new"
    # As root, apt's download sandbox user (_apt) cannot enter a cache under /root: download as root.
    sandbox=()
    [ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root)
    (cd "$debs.new" && apt-get download -q "${sandbox[@]+"${sandbox[@]}"}" "${specs[@]// /=}" >&2) || die "apt-get download failed (apt-get update?)"
    declare -A got=()
    # shellcheck disable=SC2016 # dpkg-deb's own ${Field} syntax
    for f in "$debs.new"/*.deb; do got["$(dpkg-deb -W --showformat='${Package} ${Version}' "$f")"]="$(basename "$f")"; done
    {
      printf 'state %s\n' "$apt_state"
      for s in "${specs[@]}"; do
        [ -n "${got[$s]:-}" ] || die "apt-get download gave no .deb for $s"
        printf '%s %s\n' "$s" "${got[$s]}"
      done
    } >"$list.new"
    rm -rf "$debs"
    mv "$debs.new" "$debs"
  fi
  mv "$list.new" "$list"
fi
mapfile -t deb_files < <(tail -n +2 "$list" | awk '{ print $3 }')
version="$(awk '$1 == "nodejs" { print $2 }' "$list")"

# Unpacked once per set of .debs. Only /usr: on the merged-/usr layout below, a /lib or /bin of
# their own would collide with the links.
if [ ! -d "$tree" ] || [ "$(tail -n +2 "$list")" != "$(cat "$tree.list" 2>/dev/null)" ]; then
  say "dpkg-deb -x ${#deb_files[@]} .debs into $tree"
  rm -rf "$tree" "$tree.new" "$tree.list"
  mkdir -p "$tree.new"
  for f in "${deb_files[@]}"; do dpkg-deb -x "$debs/$f" "$tree.new"; done
  top="$(find "$tree.new" -mindepth 1 -maxdepth 1 -printf '%f ')"
  [ "$top" = "usr " ] || die "the .debs hold more than /usr: $top"
  mv "$tree.new" "$tree"
  tail -n +2 "$list" >"$tree.list"
fi

node="$tree/usr/bin/node"
if [ ! -x "$node" ] || [ -L "$node" ]; then die "no binary $node in Debian's nodejs $version"; fi
dash=/usr/bin/dash # the host's dash, bookworm's own package as in debian:bookworm-slim
if [ "$(dpkg-query -W -f='${Status}' dash 2>/dev/null)" != "install ok installed" ] || [ ! -x "$dash" ]; then die "no Debian dash at $dash"; fi
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
os_release=/usr/lib/os-release
[ -f "$os_release" ] || die "no $os_release (Debian's base-files)"
# The unpacked libraries (libnode, c-ares) first, so that ldd resolves them where this host has
# none of its own; every other library is the host's installed one.
tree_libs="$(find "$tree/usr/lib" \( -name '*.so' -o -name '*.so.[0-9]*' \) -printf '%h\n' | sort -u | paste -sd:)"
LD_LIBRARY_PATH="$tree_libs" deb_closure "$node" "$dash"
host_libs=()
for f in "${deb_libs[@]}"; do [[ $f == "$tree"/* ]] || host_libs+=("$f"); done
# OpenSSL loads its legacy provider (MD4, old ciphers) from here for `--openssl-legacy-provider`,
# which the official build has compiled in.
legacy="$(dirname "$(printf '%s\n' "${host_libs[@]}" | grep '/libcrypto\.so\.3$')")/ossl-modules/legacy.so"
[ -f "$legacy" ] || die "no OpenSSL legacy provider at $legacy (Debian's libssl3)"

# The recipe: the .debs (their names carry package and version: an apt update that brings a new
# one makes a new image), every host file the image holds, the Dockerfile, the entrypoint and the
# image scripts.
key="$({
  printf 'node %s\n' "$version"
  (cd "$debs" && sha256sum "${deb_files[@]}")
  sha256sum "${host_libs[@]}" "$legacy" "$dash" "$ca" "$os_release"
} | lab_key "$here/Dockerfile" "$here/docker-entrypoint.sh" "$lab_debian")"

context() {
  local root="$1/rootfs" f d
  mkdir -p "$root/etc"
  # Merged /usr, as bookworm: /bin/sh, /lib/... and /usr/bin/sh, /usr/lib/... are the same files.
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
  # A copy, not hard links: deb_copy writes into existing files, and the tree is the cache's.
  cp -a "$tree/usr" "$root/"
  # As Debian's slim images: the packages' licences stay, the rest of their docs and man pages go.
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$root/usr/share/man" "$root/usr/share/lintian" "$root/usr/share/bash-completion" "$root/usr/share/systemtap"
  for f in "${host_libs[@]}" "$legacy" "$os_release"; do deb_copy "$root" "$f"; done
  ln -s ../usr/lib/os-release "$root/etc/os-release"
  deb_copy "$root" "$dash"
  ln -s dash "$root/usr/bin/sh"
  # The official image's paths for node; its entrypoint script, which needs the shell.
  mkdir -p "$root/usr/local/bin" "$root/usr/local/sbin"
  ln -s /usr/bin/node "$root/usr/local/bin/node"
  ln -s node "$root/usr/local/bin/nodejs"
  install -m 0755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
  # Debian builds node against OpenSSL's default store instead of the bundled roots the official
  # build has, so https needs the bundle at OpenSSL's default paths.
  deb_copy "$root" "$ca"
  mkdir -p "$root/usr/lib/ssl"
  ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
  ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"
  # Not deb_etc: the official image's root has a shell, and it adds the user node (uid and gid
  # 1000, home /home/node). Its login shell there is bash; dash is the only shell here.
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' \
    'node:x:1000:1000::/home/node:/bin/sh' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'node:x:1000:' >"$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
  install -d -m 0700 "$root/root"
  install -d -m 1777 "$root/tmp"
  mkdir -p "$1/home"
}
lab_image "$tag" "$key" "$slot" "$here/Dockerfile" context
