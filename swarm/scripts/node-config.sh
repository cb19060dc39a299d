# shellcheck shell=bash
# Usage: node-config.sh NODE ROLE AVAILABILITY [LABEL=VALUE ...]
# Run on a manager: waits until NODE (its hostname) is Ready, then sets its role, availability and
# labels to exactly what the config says, and removes stale entries left by an earlier incarnation
# of the same host (a rebuilt Pi re-joins as a new node; its old, Down entry would still count
# towards manager quorum).
node=${1:?usage: node-config.sh NODE ROLE AVAILABILITY [LABEL=VALUE ...]}
role=${2:?role}
availability=${3:?availability}
shift 3
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"

ready_id=""
for _ in $(seq 1 120); do
  ready_id=$(docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}' | awk -v n="$node" '$2 == n && $3 == "Ready" { print $1; exit }')
  [ -n "$ready_id" ] && break
  sleep 0.5
done
[ -n "$ready_id" ] || die "node $node is not Ready in the swarm after 60 s; check 'docker node ls' and the node's docker"

for stale in $(docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}' | awk -v n="$node" -v id="$ready_id" '$2 == n && $1 != id && $3 != "Ready" { print $1 }'); do
  log "removing stale swarm entry $stale of $node"
  docker node demote "$stale" >/dev/null 2>&1 || true
  docker node rm --force "$stale" >/dev/null
done

current_role=$(docker node inspect --format '{{.Spec.Role}}' "$ready_id")
if [ "$current_role" != "$role" ]; then
  log "changing $node from $current_role to $role"
  if [ "$role" = manager ]; then docker node promote "$ready_id" >/dev/null; else docker node demote "$ready_id" >/dev/null; fi
fi

args=(--availability "$availability")
declare -A wanted=()
for pair in "$@"; do
  wanted[${pair%%=*}]=1
  args+=(--label-add "$pair")
done
while IFS= read -r existing; do
  [ -n "$existing" ] || continue
  [ -n "${wanted[$existing]:-}" ] || args+=(--label-rm "$existing")
done < <(docker node inspect --format '{{range $k, $v := .Spec.Labels}}{{println $k}}{{end}}' "$ready_id")
docker node update "${args[@]}" "$ready_id" >/dev/null
echo "node_id=$ready_id"
