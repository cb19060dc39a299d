#!/usr/bin/env bash
# The whole test suite on a fresh machine (the README's test command, and what CI runs):
# installs what the tests need, then unit tests, lab tests on a real Swarm over real SSH, and the
# real Pulumi engine end to end against the lab. The lab is torn down even when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS" >&2; }

step "host packages and dockerd"
bash lab/host-setup.sh

step "npm ci"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "unit tests (types, config, Ignition, resource graph under mocks, scripts)"
npm test

cleanup() { npm run --silent lab:down >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "lab tests (real Swarm, real SSH)"
npm run test:lab

if [ -f jest.e2e.config.js ]; then
  step "Pulumi toolchain"
  npm run --silent toolchain
  step "end-to-end: pulumi preview/up/destroy against the lab"
  npm run test:e2e
fi
step "all tests passed"
