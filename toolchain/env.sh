# shellcheck shell=bash
# Source this file to run the real Pulumi engine offline with the homelab toolchain:
#
#   source toolchain/env.sh
#   export PULUMI_BACKEND_URL=file://... PULUMI_CONFIG_PASSPHRASE=...   # yours to choose
#
# It puts the toolchain bin dir (pulumi, pulumi-language-nodejs and every
# pulumi-resource-* plugin) first on PATH, building it first with build.sh when
# it is not cached yet (a cold build takes several minutes; cached: seconds).
# Set HOMELAB_TOOLCHAIN_BIN to a bin dir printed by build.sh to skip that step.
# The backend URL and passphrase are left to the caller, and so is PULUMI_HOME.

_homelab_toolchain_env() {
  local here bin
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bin="${HOMELAB_TOOLCHAIN_BIN:-}"
  if [ -z "$bin" ] || [ ! -x "$bin/pulumi" ]; then
    bin="$(bash "$here/build.sh" | tail -n 1)"
  fi
  [ -n "$bin" ] && [ -x "$bin/pulumi" ] || return 1
  export HOMELAB_TOOLCHAIN_BIN="$bin"
  case ":$PATH:" in
    *":$bin:"*) ;;
    *) export PATH="$bin:$PATH" ;;
  esac
}

if _homelab_toolchain_env; then
  unset -f _homelab_toolchain_env
  # Never reach out: no update checks, no plugin downloads, no registry look-ups.
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_DISABLE_REGISTRY_RESOLVE=true
  # The provider plugins are found on PATH ("ambient" plugins); this must stay unset
  # unless they were installed into PULUMI_HOME with `build.sh --install-plugins`.
  unset PULUMI_IGNORE_AMBIENT_PLUGINS
else
  unset -f _homelab_toolchain_env
  echo "toolchain/env.sh: building the toolchain failed" >&2
  false
fi
