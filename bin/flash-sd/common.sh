# shellcheck shell=bash
# flash-sd/common.sh: messages, exits and command running for bin/flash-sd.sh (sourced by it).

# ---------------------------------------------------------------- messages
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
step() { printf '\n==> %s\n' "$*"; }

usage_error() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  printf "Run 'bin/%s --help' for usage.\n" "$PROG" >&2
  exit 2
}

# refuse PROBLEM NEXT-STEP: a safety check failed; nothing was changed.
refuse() {
  printf 'refused: %s\n' "$1" >&2
  printf 'next: %s\n' "$2" >&2
  printf 'Nothing was written.\n' >&2
  exit 3
}

# fail PROBLEM NEXT-STEP: a step failed while writing.
fail() {
  printf 'error: %s\n' "$1" >&2
  printf 'next: %s\n' "$2" >&2
  exit 1
}

human_size() {
  awk -v b="$1" 'BEGIN { printf "%.1f GiB (%.1f GB)", b / 1073741824, b / 1000000000 }'
}

# ---------------------------------------------------------------- commands
# run CMD ARGS...: print and run, or in a dry run only print "would run: ..."
print_cmd() {
  local out="" arg
  for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
  done
  printf '%s\n' "${out% }"
}

run() {
  if [[ "$DRY_RUN" -eq 1 ]]; then
    printf 'would run: %s\n' "$(print_cmd "$@")"
  else
    printf '+ %s\n' "$(print_cmd "$@")"
    "$@"
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

sha256_of() {
  if have sha256sum; then
    sha256sum -- "$1" | awk '{ print $1 }'
  elif have shasum; then
    shasum -a 256 -- "$1" | awk '{ print $1 }'
  else
    refuse "neither sha256sum nor shasum is installed, so the firmware cannot be verified" \
      "install coreutils (sha256sum) and run again"
  fi
}
