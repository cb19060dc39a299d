#!/bin/bash
# Runs on a swarm manager (as core, via `bash -s`): one line per swarm node, tab-separated:
#   ID  HOSTNAME  STATUS  AVAILABILITY  MANAGER_STATUS(empty for workers)  CLUSTER_ID
set -euo pipefail
cluster=$(docker info --format '{{.Swarm.Cluster.ID}}')
docker node ls --format '{{.ID}}	{{.Hostname}}	{{.Status}}	{{.Availability}}	{{.ManagerStatus}}' |
  while IFS=$'\t' read -r id host status availability manager; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$host" "$status" "$availability" "$manager" "$cluster"
  done
