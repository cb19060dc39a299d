#!/usr/bin/env bash
# Usage: over-ssh.sh ADDRESS PORT USER WAIT_SECONDS [SCRIPT_ARGS...]
# Runs on the operator's machine (Pulumi's local commands): reads the deploy key's OpenSSH private
# key, then a node script, from stdin; loads the key into a throw-away ssh-agent (so it never
# touches disk, argv or the environment) and runs the script on the node as `bash -s -- ARGS`,
# retrying the connection until WAIT_SECONDS pass (a Pi on first boot takes minutes).
# Prints reachable=true and the script's output, or reachable=false (and a line on stderr) when
# the node never answers; exits 0 then, since a node that is off is not an error for its callers.
# A script that ran and still failed when time is up is an error: its exit code is passed on.
set -euo pipefail
address=${1:?usage: over-ssh.sh ADDRESS PORT USER WAIT_SECONDS [SCRIPT_ARGS...]}
port=${2:?port}
user=${3:?user}
wait_seconds=${4:?wait seconds}
shift 4
remote_command="bash -s --"
for arg in "$@"; do
  [[ $arg =~ ^[A-Za-z0-9._:=/@+-]+$ ]] || { echo "over-ssh.sh: refusing unsafe argument '$arg'" >&2; exit 2; }
  remote_command+=" $arg"
done

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
  # Host keys are not checked (as @pulumi/command's remote commands): nodes make theirs at first boot.
  status=0
  output=$(printf '%s\n' "$script" | ssh -p "$port" -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$user@$address" "$remote_command") || status=$?
  if [ "$status" -eq 0 ]; then
    echo "reachable=true"
    printf '%s\n' "$output"
    exit 0
  fi
  # Retried either way: a booting node may answer SSH before its docker does.
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 3
done
if [ "$status" -ne 255 ]; then
  printf '%s\n' "$output"
  echo "over-ssh.sh: the script failed on $address (exit $status)" >&2
  exit "$status"
fi
echo "reachable=false"
echo "$user@$address:$port did not answer SSH within ${wait_seconds} s" >&2
