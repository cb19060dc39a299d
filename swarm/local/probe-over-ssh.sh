#!/usr/bin/env bash
# Usage: probe-over-ssh.sh ADDRESS PORT USER WAIT_SECONDS
# Runs on the operator's machine (Pulumi's local.run): reads the deploy key's OpenSSH private key,
# then the probe script, from stdin; loads the key into a throw-away ssh-agent (so it never touches
# disk, argv or the environment) and runs the probe on the node, retrying until WAIT_SECONDS pass
# (a Pi on first boot takes minutes). Prints reachable=false when the node never answers.
set -euo pipefail
address=${1:?usage: probe-over-ssh.sh ADDRESS PORT USER WAIT_SECONDS}
port=${2:?port}
user=${3:?user}
wait_seconds=${4:?wait seconds}

key=""
while IFS= read -r line; do
  key+="$line"$'\n'
  [[ $line == "-----END OPENSSH PRIVATE KEY-----" ]] && break
done
script=$(cat)

agent_env=$(ssh-agent -s)
eval "$agent_env" >/dev/null
trap 'ssh-agent -k >/dev/null 2>&1 || true' EXIT
printf '%s' "$key" | ssh-add -q - 2>/dev/null
key=""

deadline=$((SECONDS + wait_seconds))
while :; do
  # Host keys are not checked here: the probe only reads, and nodes make their host keys at first boot.
  if output=$(printf '%s\n' "$script" | ssh -p "$port" -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$user@$address" bash -s 2>/dev/null); then
    echo "reachable=true"
    printf '%s\n' "$output"
    exit 0
  fi
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 3
done
echo "reachable=false"
