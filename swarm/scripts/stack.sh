# shellcheck shell=bash
# Usage: stack.sh deploy NAME [JIT_SERVICE...] | stack.sh remove NAME SWARM_ID
# Run on a manager. `deploy` reads the rendered compose file from HOMELAB_STACK_COMPOSE (a
# preamble on stdin, as plain text so that `pulumi preview --diff` shows what changes in it) and
# runs `docker stack deploy --prune`; the file holds no secret (secrets are external Swarm
# objects). A deploy the swarm refuses is reported on stdout (`deploy_failed=…`) and the script
# still succeeds: Pulumi starts no new step after a failed one, so one broken stack would hold
# back every other; the program reports it as an error and retries it on the next run. `--resolve-image never`: tags are pinned, and asking a registry for digests on every
# deploy would fail offline and slow every run. `remove` runs `docker stack rm` and waits
# until its services and networks are gone; named volumes stay (the data is the owner's). Only in
# the swarm SWARM_ID it was deployed in: after the swarm was formed anew the stack is deployed
# there again first, and the old deployment's removal must not take the new one down.
# Each JIT_SERVICE (a just-in-time service of the stack, in the order of the compose file's
# HOMELAB_JIT_REPLICAS_<i> variables) keeps the replicas it has: the deploy would otherwise set the
# file's (docker/cli#2235), waking a sleeping service or stopping one in use. A new one starts at 0.
action=${1:?usage: stack.sh deploy|remove NAME}
name=${2:?stack name}
wait_for_docker
is_manager || die "$(hostname) is not a swarm manager"
case "$action" in
  deploy)
    compose=${HOMELAB_STACK_COMPOSE:?the compose file is missing from the script preamble}
    unset HOMELAB_STACK_COMPOSE
    file=$(mktemp)
    trap 'rm -f "$file"' EXIT
    printf '%s\n' "$compose" >"$file"
    shift 2
    i=0
    for service in "$@"; do
      replicas=$(docker service inspect --format '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{end}}' "$service" 2>/dev/null || true)
      export "HOMELAB_JIT_REPLICAS_$i=${replicas:-0}"
      log "$service keeps ${replicas:-0} replica(s)"
      i=$((i + 1))
    done
    if ! out=$(docker stack deploy --prune --resolve-image never --compose-file "$file" "$name" 2>&1); then
      printf '%s\n' "$out" >&2
      echo "deploy_failed=$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    else
      printf '%s\n' "$out" >&2
    fi
    echo "services=$(docker stack services --format '{{.Name}}' "$name" | sort | paste -sd, -)"
    ;;
  remove)
    made_in=${3:?swarm id}
    if [ "$(cluster_id)" != "$made_in" ]; then log "stack $name was deployed in swarm $made_in, not this one; nothing to remove"; exit 0; fi
    docker stack rm "$name" >&2 || true
    for _ in $(seq 1 60); do
      if [ -z "$(docker stack services -q "$name" 2>/dev/null)" ]; then
        networks=$(docker network ls -q --filter "label=com.docker.stack.namespace=$name")
        [ -z "$networks" ] && { log "stack $name removed"; exit 0; }
        # `docker stack rm` tries each network once, while the removed services' tasks may still be
        # stopping ("network … is in use by task …"), and then gives up on it: try again until they are gone.
        # shellcheck disable=SC2086 # one ID per word
        docker network rm $networks >/dev/null 2>&1 || true
      fi
      sleep 1
    done
    die "stack $name still has services or networks after 60 s; check 'docker stack ps $name'"
    ;;
  *) die "unknown action '$action'" ;;
esac
