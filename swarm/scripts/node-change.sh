# shellcheck shell=bash
# Included before node-config.sh and drain.sh (swarm/scripts.ts INCLUDES), after lib.sh.
# A change to a node's spec (update, promote, demote) is refused with "update out of sequence" when
# another change to the swarm's store landed first: Pulumi runs one such step per node at once (a
# destroy drains every node together). Swarm's answer is to read again and retry; these changes
# are idempotent, so they are retried, after a short random pause so the racers spread out.
node_change() {
  local try out=""
  for try in 1 2 3 4 5 6 7 8 9 10; do
    if out=$(docker node "$@" 2>&1); then return 0; fi
    case "$out" in
      *"out of sequence"*) sleep "0.$((RANDOM % 9 + 1))" ;;
      *) printf '%s\n' "$out" >&2; return 1 ;;
    esac
  done
  printf '%s\n' "$out" >&2
  log "docker node $1 met concurrent changes $try times in a row; giving up"
  return 1
}
