# shellcheck shell=bash
# Usage: leave.sh [MACHINE_ID [CLUSTER_ID]]
# Makes this node leave its swarm (force: the last manager of a destroyed cluster has no other way
# out). The arguments say which membership is being deleted: the disk (machine ID) and, for a
# manager, the swarm it joined. If either differs now, that membership is already gone (the node
# was reflashed, or the swarm was formed anew, perhaps on this very node a moment ago) and the
# node stays where it is.
joined_disk=${1:-unreachable}
joined_cluster=${2:-}
wait_for_docker
if [ "$joined_disk" != unreachable ] && [ "$joined_disk" != "$(cat /etc/machine-id)" ]; then
  log "$(hostname) was reflashed since it joined; nothing to leave"
  exit 0
fi
if [ "$(swarm_state)" = inactive ]; then log "$(hostname) is not in a swarm"; exit 0; fi
# A manager that lost quorum (the other managers left a moment ago, as in a destroy) reports no
# cluster ID at all: that swarm is gone for good, so it leaves too. A swarm formed anew has quorum
# and an ID of its own.
current_cluster=$(cluster_id)
if [ -n "$joined_cluster" ] && is_manager && [ -n "$current_cluster" ] && [ "$current_cluster" != "$joined_cluster" ]; then
  log "$(hostname) is in swarm $current_cluster now, not in $joined_cluster it joined; staying"
  exit 0
fi
docker swarm leave --force >/dev/null
log "$(hostname) left the swarm"
