# shellcheck shell=bash
# Usage: image.sh TAG
# Run on the node a service is pinned to (over SSH from the operator's machine, each `pulumi up`):
# makes the image TAG from the Dockerfile that comes base64-encoded in HOMELAB_IMAGE_DOCKERFILE (a
# preamble on stdin), unless the node has TAG already. Tags carry a hash of the Dockerfile, so an
# existing TAG is this Dockerfile's build. No registry is involved: the image exists on this node
# only, which is why its service is pinned here.
# Prints image=present, image=built, or image=failed and reason=... (exit 0 then too: the program
# warns and deploys the rest; the swarm starts the task once a later run has built the image).
tag=${1:?usage: image.sh TAG}
dockerfile=${HOMELAB_IMAGE_DOCKERFILE?the Dockerfile is missing from the script preamble}
unset HOMELAB_IMAGE_DOCKERFILE
wait_for_docker
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "image=present"
  exit 0
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
printf '%s' "$dockerfile" | base64 -d >"$context/Dockerfile"
log "building $tag on $(hostname): the first build pulls its base image"
if out=$(docker build --label homelab.built=true -t "$tag" "$context" 2>&1); then
  echo "image=built"
else
  echo "image=failed"
  # The last lines say why (no network, no space, a base image that is not there).
  printf 'reason=%s\n' "$(printf '%s\n' "$out" | tail -n 3 | tr '\n' ' ')"
fi
