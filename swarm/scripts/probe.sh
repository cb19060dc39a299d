# shellcheck shell=bash
# Reports what the planner needs, as key=value lines. Read-only.
wait_for_docker
echo "machine_id=$(cat /etc/machine-id)"
echo "hostname=$(hostname)"
echo "swarm_state=$(swarm_state)"
echo "node_id=$(docker info --format '{{.Swarm.NodeID}}')"
if is_manager; then echo "is_manager=true"; else echo "is_manager=false"; fi
echo "cluster_id=$(cluster_id)"
