# shellcheck shell=bash
# Reports what the planner needs, as key=value lines. Read-only.
wait_for_docker

# A manager reports no cluster ID while its swarm has no raft leader (just after the leader went
# off, during the election): wait for one, up to 30 s, rather than report a swarm of unknown ID.
# Without quorum the election never ends; the planner then keeps the last run's cluster ID.
# (Kept here, not in lib.sh: lib.sh is part of every step's stored script, and a change there
# would show every step of an existing cluster as changed.)
settled_cluster_id() {
  local id tries=0
  id=$(cluster_id)
  while [ -z "$id" ] && is_manager && [ "$tries" -lt 30 ]; do
    [ "$tries" -eq 0 ] && log "$(hostname): the swarm has no leader yet (an election?); waiting up to 30 s"
    sleep 1
    tries=$((tries + 1))
    id=$(cluster_id)
  done
  printf '%s\n' "$id"
}

echo "machine_id=$(cat /etc/machine-id)"
echo "hostname=$(hostname)"
echo "swarm_state=$(swarm_state)"
echo "node_id=$(docker info --format '{{.Swarm.NodeID}}')"
if is_manager; then echo "is_manager=true"; else echo "is_manager=false"; fi
echo "cluster_id=$(settled_cluster_id)"
