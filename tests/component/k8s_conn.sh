# k8sattributes: identity from the connection itself, for real. Processes placed
# in test cgroups named like Kubernetes containers (kubepods/burstable/pod<uid>/<id>,
# v1 controllers and the v2 tree) send OTLP/HTTP over a unix socket (SO_PEERCRED
# pid) and over loopback TCP (socket -> /proc/net/tcp -> owner pid), and syslog
# over TCP with logger. Their data must arrive tagged with their container id,
# pod uid and the kubelet folders' names; a forged k8s.pod.name is caught as a
# mismatch; a host process's data stays untagged.
. "$VIGIL_SRC/tests/lib.sh"
CHK="$VIGIL_SRC/tests/component/k8s_check.py"
CGH="$VIGIL_SRC/tests/component/k8s_cgroup.py"
"$VIGIL_BIN" components >"$T/components" || fail "vigil components"
grep -q '^receiver otlp ' "$T/components" || skip "otlp receiver not built yet"
grep -q '^receiver syslog ' "$T/components" || skip "syslog receiver not built yet"
[ "$(id -u)" = 0 ] || skip "needs root to create cgroups"
python3 "$CGH" hier >"$T/hier" || skip "no writable cgroup hierarchy under /sys/fs/cgroup"
command -v curl >/dev/null || skip "curl is not installed"
command -v logger >/dev/null || skip "logger (util-linux bsdutils) is not installed: scripts/deps.sh test"

TOP="vigil-k8s-conn-$$"
hexid() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
UID1=$(python3 -c 'import uuid; print(uuid.uuid4())')
CID1=$(hexid)   # container "app" of pod shop/web-1
CID2=$(hexid)   # container "proxy" of the same pod
APP="kubepods/burstable/pod$UID1/$CID1"
PROXY="kubepods/burstable/pod$UID1/$CID2"
k8s_cleanup() { python3 "$CGH" rm "$TOP" || echo "cleanup of cgroups $TOP failed" >&2; vg_cleanup; }
trap k8s_cleanup EXIT
in_cg() { local rel=$1; shift; python3 "$CGH" exec "$TOP" "$rel" "$@"; }

mkdir -p "$T/pods/shop_web-1_$UID1/app" "$T/pods/shop_web-1_$UID1/proxy" "$T/containers"
ln -s "../pods/shop_web-1_$UID1/app/0.log" "$T/containers/web-1_shop_app-$CID1.log"
ln -s "../pods/shop_web-1_$UID1/proxy/0.log" "$T/containers/web-1_shop_proxy-$CID2.log"

mport=$(free_port)
hport=$(free_port)
sport=$(free_port)
cat >"$T/c.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http: { endpoint: $T/otlp.sock, transport: unix }
  otlp/tcp:
    protocols:
      http: { endpoint: "127.0.0.1:$hport" }
  syslog:
    protocol: rfc5424
    enable_octet_counting: true
    tcp: { listen_address: "127.0.0.1:$sport" }
processors:
  k8sattributes:
    auth_type: none
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name, container.id]
    pod_association:
      - sources: [{ from: connection }]
    identity: { claims: overwrite_and_mark }
    node_local: { pods_log_dir: $T/pods, containers_log_dir: $T/containers }
exporters:
  file: { path: $T/out.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [otlp, otlp/tcp, syslog], processors: [k8sattributes], exporters: [file] }
EOF
vg_start c "$T/c.yaml"
wait_until 10 test -S "$T/otlp.sock" || fail "no unix socket"

# payload MARKER [ATTR=VALUE...] : an OTLP/JSON logs request
payload() {
  local a="{\"key\":\"test.step\",\"value\":{\"stringValue\":\"$1\"}}" kv
  shift
  for kv in "$@"; do a="$a,{\"key\":\"${kv%%=*}\",\"value\":{\"stringValue\":\"${kv#*=}\"}}"; done
  printf '{"resourceLogs":[{"resource":{"attributes":[%s]},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}' "$a"
}
arrived() { python3 "$CHK" "$T/out.json" "$1"; [ $? -ne 2 ]; }
expect() { # expect MARKER WHAT EXPECTATIONS...
  local mk=$1 what=$2; shift 2
  wait_until 10 arrived "$mk" || fail "$what: $mk never reached the output"
  python3 "$CHK" "$T/out.json" "$mk" "$@" || fail "$what"
  ok "$what"
}
m() { metric "$mport" "$@"; }

# --- OTLP/HTTP over the unix socket, with a forged pod name ---------------------------
payload u1 k8s.pod.name=payments-api-0 k8s.namespace.name=shop >"$T/u1.json"
in_cg "$APP" curl -fsS --unix-socket "$T/otlp.sock" -H 'Content-Type: application/json' \
  --data-binary @"$T/u1.json" http://localhost/v1/logs >"$T/u1.out" 2>&1 || fail "curl over the unix socket: $(cat "$T/u1.out")"
expect u1 "OTLP over a unix socket tagged from the sender's cgroup; forged k8s.pod.name caught" \
  container.id="$CID1" k8s.pod.uid="$UID1" k8s.pod.name=web-1 k8s.namespace.name=shop k8s.container.name=app \
  vigil.identity.mismatch=true vigil.identity.claimed.k8s.pod.name=payments-api-0 \
  vigil.identity.claimed.k8s.namespace.name=
[ "$(m vigil_k8sattributes_identity_mismatches)" -ge 1 ] || fail "mismatch not counted"

# --- OTLP/HTTP over loopback TCP: curl from the other container --------------------------
payload t1 >"$T/t1.json"
in_cg "$PROXY" curl -fsS -H 'Content-Type: application/json' --data-binary @"$T/t1.json" \
  "http://127.0.0.1:$hport/v1/logs" >"$T/t1.out" 2>&1 || fail "curl over TCP: $(cat "$T/t1.out")"
expect t1 "OTLP over loopback TCP tagged from the sender's socket owner" \
  container.id="$CID2" k8s.pod.uid="$UID1" k8s.pod.name=web-1 k8s.container.name=proxy vigil.identity.mismatch=

# --- python, two requests on one keep-alive connection: one fd scan ------------------------
scans=$(m vigil_k8sattributes_proc_fd_scans)
payload t2 >"$T/t2.json"
payload t3 k8s.container.name=proxy >"$T/t3.json"
in_cg "$APP" python3 - "$hport" "$T/t2.json" "$T/t3.json" <<'PY' || fail "python sender"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for f in sys.argv[2:]:
    c.request("POST", "/v1/logs", open(f, "rb").read(), {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
c.close()
PY
expect t2 "python over loopback TCP tagged" container.id="$CID1" k8s.container.name=app
expect t3 "second request on the same connection tagged; a claimed container name is overwritten" \
  container.id="$CID1" k8s.container.name=app vigil.identity.mismatch=true vigil.identity.claimed.k8s.container.name=proxy
[ "$(m vigil_k8sattributes_proc_fd_scans)" -eq $((scans + 1)) ] || fail "expected one fd scan for one connection"
ok "one /proc fd scan for a connection's two requests"

# --- a source port reused by another process does not inherit the identity ----------------
reuse_port=$(free_port)
send_from_port() { # MARKER : one request from 127.0.0.1:$reuse_port, then close
  payload "$1" >"$T/$1.json"
  python3 - "$hport" "$reuse_port" "$T/$1.json" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.connect(("127.0.0.1", int(sys.argv[1])))
body = open(sys.argv[3], "rb").read()
s.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
assert b" 200 " in s.recv(4096).split(b"\r\n")[0] + b" "
s.close()
PY
}
export -f send_from_port payload
export hport reuse_port T
in_cg "$APP" bash -c 'send_from_port r1' || fail "sender from the container"
expect r1 "sender from a fixed source port tagged" container.id="$CID1"
send_from_port r2 || fail "host sender from the same source port"
expect r2 "same source port reused by a host process: not tagged with the old identity" container.id= k8s.pod.uid=

# --- syslog over TCP with logger ------------------------------------------------------------
# logger keeps its connection while its input is open, as long-lived senders do; a sender
# that is gone before its data is read cannot be attributed (its socket is gone).
( echo "hello k8smark1"; sleep 1.5 ) | in_cg "$PROXY" logger --tcp --server 127.0.0.1 --port "$sport" \
  --octet-count --rfc5424 -t app || fail "logger"
expect k8smark1 "syslog over TCP from logger tagged" container.id="$CID2" k8s.pod.uid="$UID1" k8s.container.name=proxy

# --- a host process (no container) stays untagged -------------------------------------------
payload h1 >"$T/h1.json"
curl -fsS -H 'Content-Type: application/json' --data-binary @"$T/h1.json" "http://127.0.0.1:$hport/v1/logs" \
  >/dev/null || fail "curl from the host"
expect h1 "host process over loopback TCP: no container identity" container.id= k8s.pod.uid=
[ "$(m vigil_k8sattributes_peers_resolved)" -ge 4 ] || fail "resolved peers not counted"
[ "$(m vigil_k8sattributes_peers_unresolved)" -ge 1 ] || fail "unresolved peer not counted"
vg_stop c
echo "1 passed, 0 failed"
