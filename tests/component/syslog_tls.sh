# syslog over TLS (RFC 5425: octet-counted frames in TLS) and mutual TLS:
# certificates made with openssl, a python ssl client; a client without a
# certificate is turned away from the mTLS listener and counted.
. "$VIGIL_SRC/tests/lib.sh"
command -v openssl >/dev/null || skip "openssl CLI is not installed: scripts/deps.sh test"
cd "$T"
q() { "$@" >/dev/null 2>&1 || fail "openssl: $*"; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=vigil test CA"
q openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > srv.ext
q openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext
q openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj "/CN=client"
q openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 2
p1=$(free_port); p2=$(free_port); mport=$(free_port)
cat > c.yaml <<YAML
receivers:
  syslog/tls:
    enable_octet_counting: true
    tcp: { listen_address: "127.0.0.1:$p1", tls: { cert_file: $T/srv.pem, key_file: $T/srv.key } }
  syslog/mtls:
    tcp:
      listen_address: "127.0.0.1:$p2"
      tls: { cert_file: $T/srv.pem, key_file: $T/srv.key, client_ca_file: $T/ca.pem, min_version: "1.3" }
exporters:
  file: { path: "$T/out.json", flush_interval: 20ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [syslog/tls, syslog/mtls], exporters: [file] }
YAML
vg_start vg c.yaml
python3 - "$p1" "$p2" "$T" <<'PY' || fail "TLS clients"
import socket, ssl, sys
p1, p2, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def client(port, cert=None):
    ctx = ssl.create_default_context(cafile=d + "/ca.pem")
    if cert:
        ctx.load_cert_chain(d + "/cli.pem", d + "/cli.key")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    return s
msgs = [b"<165>1 2025-06-15T12:00:00.5Z tlshost tlsapp 9 ID1 [x@1 k=\"v\"] t1 over tls",
        b"<14>1 2025-06-15T12:00:01Z tlshost tlsapp 9 ID2 - t2 second"]
s = client(p1)
s.sendall(b"".join(b"%d %s" % (len(m), m) for m in msgs))
s.close()
s = client(p2, cert=True)
s.sendall(b"<13>1 2025-06-15T12:00:02Z mhost mapp - - - t3 over mtls\n")
s.close()
try:
    s = client(p2)
    s.sendall(b"<13>1 - h a - - - t4 must not arrive\n")
    s.recv(10)
    s.close()
except (ssl.SSLError, OSError):
    pass
PY
check() {
  python3 - "$T/out.json" <<'PY'
import sys, os
sys.path.insert(0, os.environ["VIGIL_SRC"] + "/tests/component")
import syslog_records
recs = {r["attrs"].get("message", "")[:2]: r for r in syslog_records.load(sys.argv[1])}
if not all(k in recs for k in ("t1", "t2", "t3")):
    sys.exit(1)
r = recs["t1"]; a = r["attrs"]
assert a["hostname"] == "tlshost" and a["appname"] == "tlsapp" and a["proc_id"] == "9" and a["msg_id"] == "ID1", a
assert a["structured_data"] == {"x@1": {"k": "v"}}, a
assert r["time"] == 1749988800500000000 and r["severity"] == 10, r
assert a["network.transport"] == "tcp" and a["net.peer.ip"] == "127.0.0.1", a
assert recs["t3"]["attrs"]["hostname"] == "mhost"
assert "t4" not in recs, "a client without certificate got through"
PY
}
wait_until 20 check || { check; fail "TLS messages missing or wrong"; }
ok "TLS (octet-counted) and mTLS messages arrive with every field"
wait_until 10 test "$(metric "$mport" vigil_receiver_syslog_tls_failures_total 'receiver="syslog/mtls"')" -ge 1 \
  || fail "handshake without client certificate not counted"
check || fail "a client without certificate got through"
ok "client without certificate refused by the mTLS listener and counted"
vg_stop vg
echo "2 passed, 0 failed"
