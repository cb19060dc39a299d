# shellcheck shell=bash
# Usage: node-config.sh NODE NODE_ID ROLE AVAILABILITY [LABEL=VALUE ...]
# Run on a manager: waits until NODE_ID (what join.sh printed on NODE) is Ready (or Down: the node is
# off), then sets its role, availability and labels to exactly what the config says, and removes
# every other entry with NODE's hostname: those are earlier incarnations of a rebuilt Pi. Their old
# entries would still count towards manager quorum, and right after a fast rebuild the swarm may
# even think they are Ready, so they are told apart by ID, never by status.
node=${1:?usage: node-config.sh NODE NODE_ID ROLE AVAILABILITY [LABEL=VALUE ...]}
ready_id=${2:?node id}
role=${3:?role}
availability=${4:?availability}
shift 4
[[ $ready_id =~ ^[a-z0-9]{25}$ ]] || die "'$ready_id' is not a swarm node ID"
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"

# Ready after a join; down when the node is off (its labels and role can be set all the same). Any
# other state (unknown right after a leader change, or just after joining) is waited out.
state() { docker node inspect --format '{{.Status.State}}' "$ready_id" 2>/dev/null || true; }
for _ in $(seq 1 120); do
  case "$(state)" in ready | down) break ;; esac
  sleep 0.5
done
case "$(state)" in
  ready | down) ;;
  *) die "node $node ($ready_id) is '$(state)' in the swarm after 60 s, neither ready nor down; check 'docker node ls' and the node's docker" ;;
esac

for stale in $(docker node ls --format '{{.ID}} {{.Hostname}}' | awk -v n="$node" -v id="$ready_id" '$2 == n && $1 != id { print $1 }'); do
  log "removing stale swarm entry $stale of $node"
  node_change demote "$stale" 2>/dev/null || true
  docker node rm --force "$stale" >/dev/null
done

current_role=$(docker node inspect --format '{{.Spec.Role}}' "$ready_id")
if [ "$current_role" != "$role" ]; then
  log "changing $node from $current_role to $role"
  if [ "$role" = manager ]; then node_change promote "$ready_id"; else node_change demote "$ready_id"; fi
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
node_change update "${args[@]}" "$ready_id"
echo "node_id=$ready_id"
