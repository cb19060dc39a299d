# shellcheck shell=bash
# Shared by lab/images/<name>/image.sh (sourced, never run): the part every lab service image has in
# common, from the recipe key to the `docker save` tarball whose path image.sh prints last. Kept in
# one place so that the lock, the cache check and the clean-up of old images and tarballs cannot
# drift apart between images.
#
# The image script sources it with one argument, the name its progress lines start with. It then
#   1. computes its recipe key with lab_key (everything that decides the image's bytes),
#   2. defines a function that fills a build context directory given as $1,
#   3. calls lab_image TAG KEY SLOT DOCKERFILE FILL, which prints the tarball path last.
#
# Environment: HOMELAB_LAB_IMAGE_CACHE, the cache root (default ~/.cache/homelab/lab-images).

# shellcheck disable=SC2034 # for the image scripts, which keep their builds and tarballs below it
lab_cache="${HOMELAB_LAB_IMAGE_CACHE:-$HOME/.cache/homelab/lab-images}"
lab_name="${1:?source lib.sh with the image name}"
# Absolute: the image scripts may change directory before they ask for a key.
lab_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# The image script, whose text is part of every recipe (its flags and choices decide the image).
lab_script="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")"

t0=$SECONDS
say() { printf '[%s +%ss] %s\n' "$lab_name" "$((SECONDS - t0))" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# A 12-hex recipe key: stdin (facts the caller names: a binary's slot, a package version), then the
# contents of the given files plus this library and the image script. Contents only, never paths
# under the checkout, so a clone in another folder finds the same cache.
lab_key() {
  {
    cat
    sha256sum "$@" "$lab_lib" "$lab_script" | cut -c1-64
  } | sha256sum | cut -c1-12
}

# lab_image TAG KEY SLOT DOCKERFILE FILL: makes TAG on the host's dockerd unless the image it names
# already carries recipe KEY, saves it to SLOT/image-KEY.tar unless that exists, and prints the
# tarball's path as the last line of stdout. FILL is called with an empty context directory.
lab_image() {
  local tag="$1" key="$2" slot="$3" dockerfile="$4" fill="$5"
  local tarball="$slot/image-$key.tar"
  mkdir -p "$slot"
  # One image step at a time per slot: two lab runs at once would otherwise build the same tag twice
  # and race on the tarball. fd 9 stays open until the image script exits.
  exec 9>"$slot/.image.lock"
  flock 9

  local old="" have=""
  read -r old have < <(docker image inspect --format '{{.Id}} {{index .Config.Labels "homelab.lab.recipe"}}' "$tag" 2>/dev/null) || true
  if [ "$have" != "$key" ]; then
    say "docker build $tag (recipe $key)"
    local ctx="$slot/context"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    # Only what the image holds goes into the context: the classic builder sends all of it to dockerd.
    "$fill" "$ctx"
    # The classic builder: this dockerd has no buildx.
    DOCKER_BUILDKIT=0 docker build --quiet -f "$dockerfile" \
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
}

# lab_put FILE DEST: FILE at DEST in a context, as a hard link where both share a filesystem (a
# large binary costs no copy), else as a copy.
lab_put() {
  local file="$1" dest="$2"
  mkdir -p "$(dirname "$dest")"
  ln "$file" "$dest" 2>/dev/null || cp "$file" "$dest"
}
