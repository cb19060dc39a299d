#!/usr/bin/env bash
# Smoke test of the lab's adguard/adguardhome:v0.107.77 stand-in on the HOST's dockerd (default
# bridge), started the way the homelab's compose file starts it: the config is a secret that the
# entrypoint override copies into place. Checks that one host rewritten to two addresses gets both
# A records, that another name is forwarded to an upstream (a tiny DNS responder run here on the
# host's docker0 address), and that /control/status wants the password. Exits non-zero on the
# first failure; removes what it started in any case. Never touches the lab's nodes or network.
#
# Needs: docker, dig (dnsutils), curl, python3, and what image.sh needs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=adguard/adguardhome:v0.107.77
name="homelab-adguardhome-smoke-$$"
user="admin"
pass="lab-smoke-pass"
# bcrypt of $pass, written as $2y$ as `htpasswd -B` writes it (AdGuard Home's own advice), to check
# that the stand-in takes that spelling too.
# shellcheck disable=SC2016 # the dollars are the hash's own
hash='$2y$10$Rb2BIIBk7g33Utq7Wcn/pedR/E68x7Z314LlLXsD60ao5OILR08Zy'
forwarded_ip=192.0.2.77

say() { printf '[adguardhome-smoke] %s\n' "$*" >&2; }
fail() {
  say "FAIL: $*"
  docker logs "$name" 2>&1 | tail -n 20 | sed 's/^/    /' >&2 || true
  exit 1
}

for tool in docker dig curl python3; do
  command -v "$tool" >/dev/null || { say "FAIL: $tool is missing"; exit 1; }
done

work="$(mktemp -d)"
responder_pid=""
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  if [ -n "$responder_pid" ]; then kill "$responder_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

bash "$here/image.sh" >/dev/null

# The upstream listens on docker0's address: reachable from a container on the default bridge,
# and not from anywhere else.
gateway="$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}')"
[ -n "$gateway" ] || fail "no gateway address on docker's default bridge"
# A DNS responder small enough to read: every A question gets $forwarded_ip, anything else an
# empty NOERROR. It prints its port once it listens.
python3 -u - "$gateway" "$forwarded_ip" >"$work/responder.out" 2>&1 <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 17:
        continue
    qid, flags, qdcount = struct.unpack(">HHH", q[:6])
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    end = i + 5
    if qdcount != 1 or end > len(q):
        continue
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    answer = b""
    if qtype == 1:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(sys.argv[2])
    header = struct.pack(">HHHHHH", qid, 0x8080 | (flags & 0x0100), 1, 1 if answer else 0, 0, 0)
    s.sendto(header + q[12:end] + answer, peer)
EOF
responder_pid=$!
port=""
for _ in $(seq 1 50); do
  port="$(head -n1 "$work/responder.out" 2>/dev/null || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[[ "$port" =~ ^[0-9]+$ ]] || fail "the host DNS responder did not start: $(cat "$work/responder.out")"
say "upstream: DNS responder on $gateway:$port (answers A with $forwarded_ip)"

cat >"$work/AdGuardHome.yaml" <<EOF
http:
  address: 0.0.0.0:3000
  session_ttl: 720h
users:
  - name: $user
    password: $hash
dns:
  bind_hosts:
    - 0.0.0.0
  port: 53
  upstream_dns:
    - $gateway:$port
  bootstrap_dns:
    - 9.9.9.10
filtering:
  rewrites:
    - domain: traefik.lab.example
      answer: 10.0.0.1
      enabled: true
    - domain: traefik.lab.example
      answer: 10.0.0.2
      enabled: true
  filtering_enabled: true
schema_version: 29
EOF
chmod 644 "$work/AdGuardHome.yaml"

docker run -d --name "$name" --network bridge --label homelab.lab.smoke=adguardhome \
  -v "$work/AdGuardHome.yaml:/run/secrets/adguard_config:ro" \
  --entrypoint /bin/sh "$tag" -c \
  'cp /run/secrets/adguard_config /opt/adguardhome/conf/AdGuardHome.yaml && exec /opt/adguardhome/AdGuardHome --no-check-update -c /opt/adguardhome/conf/AdGuardHome.yaml -w /opt/adguardhome/work' \
  >/dev/null
ip="$(docker inspect --format '{{.NetworkSettings.IPAddress}}' "$name")"
[ -n "$ip" ] || fail "the container has no address on the default bridge"
say "container $name at $ip"

code=""
for _ in $(seq 1 50); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$ip:3000/control/status" || true)"
  [ "$code" = 401 ] && break
  [ "$(docker inspect --format '{{.State.Running}}' "$name")" = true ] || fail "the container exited"
  sleep 0.2
done

# 1. Both rewrites for the one host, in one answer, over UDP and TCP.
for transport in +notcp +tcp; do
  got="$(dig +short +time=2 +tries=1 "$transport" "@$ip" traefik.lab.example A | sort | paste -sd' ')"
  [ "$got" = "10.0.0.1 10.0.0.2" ] || fail "traefik.lab.example A ($transport): got '$got', want '10.0.0.1 10.0.0.2'"
  say "ok: traefik.lab.example A ($transport) -> $got"
done
got="$(dig +time=2 +tries=1 "@$ip" traefik.lab.example AAAA)"
if ! grep -q 'status: NOERROR' <<<"$got" || ! grep -q 'ANSWER: 0' <<<"$got"; then
  fail "traefik.lab.example AAAA: want NOERROR with no answer, got: $got"
fi
say "ok: traefik.lab.example AAAA -> NOERROR, no records"

# 2. A name no rewrite covers goes to the upstream.
got="$(dig +short +time=3 +tries=1 "@$ip" forwarded.example A)"
[ "$got" = "$forwarded_ip" ] || fail "forwarded.example A: got '$got', want '$forwarded_ip' from the host responder"
say "ok: forwarded.example A -> $got (from the upstream)"

# 3. The status API wants the password.
[ "$code" = 401 ] || fail "/control/status without auth: HTTP '$code', want 401"
code="$(curl -s -o /dev/null -w '%{http_code}' -u "$user:wrong" "http://$ip:3000/control/status")"
[ "$code" = 401 ] || fail "/control/status with a wrong password: HTTP $code, want 401"
body="$(curl -s -w '\n%{http_code}' -u "$user:$pass" "http://$ip:3000/control/status")"
if [ "${body##*$'\n'}" != 200 ] || ! grep -q '"running":true' <<<"$body" ||
  ! grep -q '"version":"v0.107.77-standin"' <<<"$body"; then
  fail "/control/status with the password: want 200 and running, got: $body"
fi
json="${body%$'\n'*}"
say "ok: /control/status 401 without or with a wrong password, 200 with it: ${json%$'\n'}"

# 4. docker stop reaches the program through `exec`: it exits at once, and cleanly.
docker stop -t 5 "$name" >/dev/null
exit_code="$(docker inspect --format '{{.State.ExitCode}}' "$name")"
[ "$exit_code" = 0 ] || fail "after docker stop: exit code $exit_code, want 0"
say "ok: docker stop -> exit 0"
say "PASS"
