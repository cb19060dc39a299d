# shellcheck shell=bash
# Usage: drain.sh NODE
# Run on a manager before NODE leaves: drains it so its tasks move elsewhere (waiting up to 120 s),
# then demotes it if it is a manager. Does nothing when the swarm or the node is already gone.
node=${1:?usage: drain.sh NODE}
wait_for_docker
if ! is_manager; then log "$(hostname) no longer manages a swarm; nothing to drain"; exit 0; fi
ids=$(docker node ls --format '{{.ID}} {{.Hostname}}' | awk -v n="$node" '$2 == n { print $1 }')
[ -n "$ids" ] || { log "$node is not in the swarm"; exit 0; }
for id in $ids; do
  node_change update --availability drain "$id"
done
for _ in $(seq 1 120); do
  running=0
  for id in $ids; do
    count=$(docker node ps --filter desired-state=running --format '{{.ID}}' "$id" 2>/dev/null | wc -l)
    running=$((running + count))
  done
  [ "$running" -eq 0 ] && break
  sleep 1
done
[ "$running" -eq 0 ] || log "warning: $running task(s) still on $node after 120 s; continuing"
for id in $ids; do
  if [ "$(docker node inspect --format '{{.Spec.Role}}' "$id")" = manager ] && [ "$id" != "$(docker info --format '{{.Swarm.NodeID}}')" ]; then
    node_change demote "$id"
  fi
done
log "drained $node"
