# shellcheck shell=bash
# Usage: remove.sh NODE
# Run on a manager after NODE left: removes its entries from the node list.
node=${1:?usage: remove.sh NODE}
wait_for_docker
if ! is_manager; then log "$(hostname) no longer manages a swarm; nothing to remove"; exit 0; fi
for id in $(docker node ls --format '{{.ID}} {{.Hostname}}' | awk -v n="$node" '$2 == n { print $1 }'); do
  [ "$id" = "$(docker info --format '{{.Swarm.NodeID}}')" ] && continue
  docker node rm --force "$id" >/dev/null
  log "removed $node ($id) from the swarm"
done
