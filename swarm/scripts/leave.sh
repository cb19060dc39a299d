# shellcheck shell=bash
# Makes this node leave its swarm (force: the last manager of a destroyed cluster has no other way out).
wait_for_docker
if [ "$(swarm_state)" = inactive ]; then log "$(hostname) is not in a swarm"; exit 0; fi
docker swarm leave --force >/dev/null
log "$(hostname) left the swarm"
