#!/usr/bin/env bash
# Proves the toolchain works offline: builds (or reuses) it with build.sh, then
# in a temp dir runs a tiny Pulumi TypeScript program (random.RandomPassword,
# tls.PrivateKey ED25519, command.local.Command, and docker.Provider when the
# docker plugin was built) through preview, up, up --expect-no-changes and
# destroy, against a local file backend and an empty PULUMI_HOME, with plugin
# downloads disabled.
#
#   bash toolchain/smoke.sh [path|plugin-cache]
#
#   path          (default) plugins are found on PATH, in the toolchain bin dir
#   plugin-cache  plugins are installed into the temp PULUMI_HOME with
#                 `build.sh --install-plugins` and PATH lookups are turned off
#                 (PULUMI_IGNORE_AMBIENT_PLUGINS=true)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
mode="${1:-path}"
case "$mode" in path | plugin-cache) ;; *)
  echo "usage: $0 [path|plugin-cache]" >&2
  exit 2
  ;;
esac
[ -d "$repo/node_modules/@pulumi/pulumi" ] || {
  echo "smoke.sh: run npm ci first ($repo/node_modules is missing)" >&2
  exit 1
}

t0=$SECONDS
bin="$(bash "$here/build.sh" | tail -n 1)"
echo "== toolchain ready in $((SECONDS - t0))s: $bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/homelab-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/state" "$work/project"

# Offline environment: toolchain/env.sh sets the same variables.
# shellcheck disable=SC1091 # env.sh is checked on its own
HOMELAB_TOOLCHAIN_BIN="$bin" source "$here/env.sh"
export PULUMI_HOME="$work/home"
export PULUMI_BACKEND_URL="file://$work/state"
export PULUMI_CONFIG_PASSPHRASE="smoke-test-passphrase"
if [ "$mode" = plugin-cache ]; then
  PULUMI_HOME="$work/home" bash "$here/build.sh" --install-plugins >/dev/null
  export PULUMI_IGNORE_AMBIENT_PLUGINS=true
fi

with_docker=0
[ -x "$bin/pulumi-resource-docker" ] && with_docker=1
export SMOKE_WITH_DOCKER="$with_docker"

cd "$work/project"
ln -s "$repo/node_modules" node_modules
cat >Pulumi.yaml <<'EOF'
name: toolchain-smoke
runtime:
  name: nodejs
  options:
    typescript: true
EOF
cat >package.json <<'EOF'
{ "name": "toolchain-smoke", "private": true, "main": "index.ts" }
EOF
cat >tsconfig.json <<'EOF'
{ "compilerOptions": { "strict": true, "target": "ES2022", "module": "commonjs", "esModuleInterop": true, "skipLibCheck": true }, "files": ["index.ts"] }
EOF
cat >index.ts <<'EOF'
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";

const password = new random.RandomPassword("password", { length: 24, special: false });
const key = new tls.PrivateKey("key", { algorithm: "ED25519" });
const hello = new command.local.Command("hello", {
  create: "printf 'hello %s' \"$WHO\"",
  delete: "true",
  environment: { WHO: "homelab" },
});
if (process.env.SMOKE_WITH_DOCKER === "1") {
  // Loads and configures the docker plugin; no docker resources are created.
  new docker.Provider("docker", { host: "unix:///var/run/docker.sock" });
}

export const passwordLength = password.result.apply((r) => r.length);
export const keyType = key.publicKeyOpenssh.apply((k) => k.split(" ")[0]);
export const greeting = hello.stdout;
EOF

step() {
  local s=$SECONDS
  echo "== pulumi $*"
  pulumi "$@" --non-interactive
  echo "== pulumi $1 took $((SECONDS - s))s"
}

expect_output() { # name expected
  local got
  got="$(pulumi stack output "$1" --show-secrets --non-interactive)"
  if [ "$got" != "$2" ]; then
    echo "smoke.sh: stack output $1 is '$got', expected '$2'" >&2
    exit 1
  fi
  echo "== output $1 = $got"
}

echo "== mode: $mode; pulumi $(pulumi version); docker plugin: $with_docker"
pulumi stack init smoke --non-interactive
step preview
step up --yes
expect_output passwordLength 24
expect_output keyType ssh-ed25519
expect_output greeting "hello homelab"
step up --yes --expect-no-changes
step destroy --yes
pulumi stack rm smoke --yes --non-interactive
echo "smoke: 1 passed, 0 failed (mode $mode, ${SECONDS}s)"
