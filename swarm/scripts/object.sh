# shellcheck shell=bash
# Usage: object.sh ensure secret|config NAME STACK | object.sh remove secret|config NAME SWARM_ID
# Run on a manager. The content comes base64-encoded in HOMELAB_OBJECT_CONTENT (a preamble on
# stdin, never a command line or the environment of another process): `ensure` creates the Swarm
# secret or config NAME from it unless it exists. Names carry a fingerprint of the content, so an
# existing NAME holds this content already and Swarm's immutable objects are never edited.
# `remove` deletes it once no service uses it (retrying while a service update is still rolling),
# only in the swarm SWARM_ID it was made in: after the swarm was formed anew, an object of the
# same name belongs to the new swarm and stays.
action=${1:?usage: object.sh ensure|remove secret|config NAME [STACK]}
kind=${2:?secret or config}
name=${3:?object name}
case "$kind" in secret | config) ;; *) die "unknown object kind '$kind'" ;; esac
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"
case "$action" in
  ensure)
    stack=${4:?stack name}
    content=${HOMELAB_OBJECT_CONTENT?the content is missing from the script preamble}
    unset HOMELAB_OBJECT_CONTENT
    if docker "$kind" inspect "$name" >/dev/null 2>&1; then
      log "$kind $name exists"
    else
      printf '%s' "$content" | base64 -d | docker "$kind" create --label "homelab.stack=$stack" "$name" - >/dev/null
      log "created $kind $name"
    fi
    ;;
  remove)
    made_in=${4:?swarm id}
    if [ "$(cluster_id)" != "$made_in" ]; then log "$kind $name was made in swarm $made_in, not this one; nothing to remove"; exit 0; fi
    for _ in $(seq 1 30); do
      docker "$kind" inspect "$name" >/dev/null 2>&1 || { log "$kind $name is gone"; exit 0; }
      docker "$kind" rm "$name" >/dev/null 2>&1 && { log "removed $kind $name"; exit 0; }
      sleep 1
    done
    die "$kind $name is still in use after 30 s. Fix: 'docker service ls' shows which service holds it; update or remove that service, then pulumi up"
    ;;
  *) die "unknown action '$action'" ;;
esac
