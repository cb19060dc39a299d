#!/usr/bin/env bash
# `npm run lab` on a fresh machine: host packages and dockerd, npm ci, then lab/main.ts
# (Pulumi toolchain, lab nodes, `pulumi up` of the lab stack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/host-setup.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
exec npx ts-node --transpile-only lab/main.ts
