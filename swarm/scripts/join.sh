# shellcheck shell=bash
# Usage: join.sh MANAGER_ADDR ADVERTISE_ADDR
# (HOMELAB_JOIN_TOKEN and HOMELAB_SWARM_NODE_IDS, the swarm's node IDs, come in the preamble on stdin)
# Joins this node to the swarm at MANAGER_ADDR unless it is in a swarm already, and prints its swarm
# node ID (node-config.sh needs it to tell this incarnation from a stale one). The token goes to
# the Docker API in a request body, never on a command line where `ps` would show it.
manager_addr=${1:?usage: join.sh MANAGER_ADDR ADVERTISE_ADDR}
advertise_addr=${2:?usage: join.sh MANAGER_ADDR ADVERTISE_ADDR}
token=${HOMELAB_JOIN_TOKEN:?the join token is missing from the script preamble}
unset HOMELAB_JOIN_TOKEN
[[ $token =~ ^SWMTKN-[A-Za-z0-9-]+$ ]] || die "the join token is malformed"
swarm_node_ids=",${HOMELAB_SWARM_NODE_IDS:-},"
wait_for_docker
own_id=$(docker info --format '{{.Swarm.NodeID}}')
state=$(swarm_state)
# A node taken off the list while it was off still says "active": it cannot know it was removed.
if [ "$state" = active ] && [ "$swarm_node_ids" != ",," ] && [[ $swarm_node_ids != *",$own_id,"* ]]; then
  log "$(hostname) thinks it is in a swarm as $own_id, but the swarm has no such node (removed while it was off?)"
  state=stale
fi
case "$state" in
  active)
    log "$(hostname) is already in a swarm"
    echo "joined=false"
    echo "node_id=$own_id"
    exit 0
    ;;
  inactive) ;;
  *) log "$(hostname) is in swarm state '$state'; leaving before joining again"; docker swarm leave --force >/dev/null ;;
esac
log "joining $(hostname) to the swarm at $manager_addr"
body=$(printf '{"ListenAddr":"%s:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$advertise_addr" "$advertise_addr" "$manager_addr" "$token")
response=$(printf '%s' "$body" | curl --silent --show-error --unix-socket /var/run/docker.sock \
  --header 'Content-Type: application/json' --data-binary @- --write-out '\n%{http_code}' \
  http://localhost/swarm/join)
status=${response##*$'\n'}
[ "$status" = 200 ] || die "swarm join failed (HTTP $status): ${response%$'\n'*}"
log "$(hostname) joined"
echo "joined=true"
echo "node_id=$(docker info --format '{{.Swarm.NodeID}}')"
