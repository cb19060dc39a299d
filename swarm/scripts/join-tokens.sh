# shellcheck shell=bash
# Usage: join-tokens.sh [--rotate]
# Prints the current join tokens (worker=, manager=) of this manager's swarm. With --rotate, makes
# new ones first, so a token left in old state, logs or shell history no longer admits anyone.
# Also prints node_ids=: the swarm's nodes now, so a node that believes it is a member but was
# removed meanwhile (taken off the list while it was off) knows to leave and join again.
# The output is a secret: callers mark it so and never log it.
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"
if [ "${1:-}" = "--rotate" ]; then
  docker swarm join-token --rotate -q worker >/dev/null
  docker swarm join-token --rotate -q manager >/dev/null
fi
echo "worker=$(docker swarm join-token -q worker)"
echo "manager=$(docker swarm join-token -q manager)"
echo "node_ids=$(docker node ls --format '{{.ID}}' | paste -sd, -)"
