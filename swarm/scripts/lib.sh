# shellcheck shell=bash
# Shared helpers, prepended to every swarm script before it is sent to a node (see swarm/scripts.ts).
# Scripts run as `core` (in the docker group on Flatcar) through `bash -s`, so they must be idempotent:
# any of them may run again on a node that is already where it should be.

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# docker is socket-activated on Flatcar and may still be starting on a fresh node.
wait_for_docker() {
  local tries=0
  until docker info >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -le 60 ] || die "docker is not answering on $(hostname) after 60 s; check 'systemctl status docker' on the node"
    sleep 1
  done
}

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }
is_manager() { [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = "true" ]; }
cluster_id() { docker info --format '{{.Swarm.Cluster.ID}}' 2>/dev/null || true; }
