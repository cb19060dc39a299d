# shellcheck shell=bash
# Usage: network.sh ensure NAME ENCRYPTED(true|false) | network.sh remove NAME SWARM_ID
# Run on a manager. `ensure` creates the attachable overlay network NAME unless it exists (so a new
# leader re-running it changes nothing), and refuses an existing one whose encryption differs
# (changing it means recreating the network under every stack on it: do that by hand). `remove`
# deletes it, and leaves it in place, with a warning, while a service still uses it; only in the
# swarm SWARM_ID it was made in (after a swarm was formed anew, the old network went with it, and
# one of the same name may belong to the new swarm).
action=${1:?usage: network.sh ensure NAME ENCRYPTED | remove NAME}
name=${2:?network name}
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"
current_encryption() { docker network inspect --format '{{index .Options "encrypted"}}' "$name" 2>/dev/null; }
case "$action" in
  ensure)
    encrypted=${3:?encrypted: true or false}
    if docker network inspect "$name" >/dev/null 2>&1; then
      have=$(current_encryption)
      if { [ "$encrypted" = true ] && [ -z "$have" ]; } || { [ "$encrypted" = false ] && [ -n "$have" ]; }; then
        die "network $name exists with encrypted='$have'; the config wants encrypted=$encrypted. Fix: remove the stacks on it, 'docker network rm $name', then pulumi up (or change the config back)"
      fi
      log "network $name exists"
    else
      args=(--driver overlay --attachable --label homelab.managed=true)
      [ "$encrypted" = true ] && args+=(--opt encrypted)
      docker network create "${args[@]}" "$name" >/dev/null
      log "created overlay network $name (encrypted=$encrypted)"
    fi
    echo "network_id=$(docker network inspect --format '{{.Id}}' "$name")"
    ;;
  remove)
    made_in=${3:?swarm id}
    if [ "$(cluster_id)" != "$made_in" ]; then log "network $name was made in swarm $made_in, not this one; nothing to remove"; exit 0; fi
    if ! docker network inspect "$name" >/dev/null 2>&1; then log "network $name is gone already"; exit 0; fi
    if ! docker network rm "$name" >/dev/null 2>&1; then
      log "warning: network $name is still in use; left in place (remove its services, then 'docker network rm $name')"
    fi
    ;;
  *) die "unknown action '$action'" ;;
esac
