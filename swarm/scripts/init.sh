# shellcheck shell=bash
# Usage: init.sh ADVERTISE_ADDR
# Starts a new swarm on this manager unless it is in one already; prints cluster_id= and created=.
# The planner runs it only on the first manager that is in a swarm, or, when none is, on the first
# manager of the config: a rebuilt manager-1 therefore joins the existing swarm instead.
advertise_addr=${1:?usage: init.sh ADVERTISE_ADDR}
wait_for_docker
case "$(swarm_state)" in
  active)
    is_manager || die "$(hostname) is in a swarm but not as a manager; cannot bootstrap from it"
    log "$(hostname) already manages swarm $(cluster_id)"
    created=false
    ;;
  inactive)
    log "initialising a new swarm on $(hostname) ($advertise_addr)"
    docker swarm init --advertise-addr "$advertise_addr" --listen-addr "$advertise_addr:2377" >/dev/null
    created=true
    ;;
  *) die "swarm state of $(hostname) is '$(swarm_state)'; run 'docker swarm leave --force' on it, then try again" ;;
esac
echo "cluster_id=$(cluster_id)"
echo "created=$created"
