# otlp receiver over TLS and mTLS, certificates made at test time with the
# openssl CLI. TLS: gRPC (ALPN h2) and HTTP (ALPN h2 and http/1.1) work for a
# client that trusts the CA, fail for one that does not or speaks plaintext.
# mTLS (client_ca_file): no client certificate or one from another CA is
# refused at the handshake (and counted); the right one works. min_version 1.3
# refuses a TLS 1.2 client. The collector serves on after every refusal.
. "$VIGIL_SRC/tests/lib.sh"
command -v openssl >/dev/null || skip "openssl CLI is not installed"
command -v curl >/dev/null || skip "curl is not installed"

# ---- certificates ----
cd "$T"
mkcert() { # NAME CN ISSUER(or self) [EXT]
  local name=$1 cn=$2 issuer=$3 ext=${4:-}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -subj "/CN=$cn" \
    -out "$name.csr" 2>/dev/null || fail "openssl req $name"
  if [ "$issuer" = self ]; then
    printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$name.ext"
    openssl x509 -req -in "$name.csr" -signkey "$name.key" -days 2 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  else
    printf '%s\n' "$ext" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial -days 2 \
      -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  fi
  [ -s "$name.pem" ] || fail "certificate $name not made"
}
mkcert ca "Vigil test CA" self
mkcert other "Another CA" self
mkcert server localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
mkcert client "otel-sdk" ca "extendedKeyUsage=clientAuth"
mkcert rogue "otel-sdk" other "extendedKeyUsage=clientAuth"
cd - >/dev/null

G1=$(free_port); H1=$(free_port); G2=$(free_port); H2=$(free_port); G3=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp/tls:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G1", tls: { cert_file: $T/server.pem, key_file: $T/server.key } }
      http: { endpoint: "127.0.0.1:$H1", tls: { cert_file: $T/server.pem, key_file: $T/server.key } }
  otlp/mtls:
    protocols:
      grpc:
        endpoint: "127.0.0.1:$G2"
        tls: { cert_file: $T/server.pem, key_file: $T/server.key, client_ca_file: $T/ca.pem }
      http:
        endpoint: "127.0.0.1:$H2"
        tls: { cert_file: $T/server.pem, key_file: $T/server.key, client_ca_file: $T/ca.pem }
  otlp/tls13:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G3", tls: { cert_file: $T/server.pem, key_file: $T/server.key, min_version: "1.3" } }
exporters:
  file: { path: $T/out.json, flush_interval: 10ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp/tls, otlp/mtls, otlp/tls13], exporters: [file] }
YAML

python3 - "$T" <<'PY'
import struct, sys
def v(n):
    o = b""
    while True:
        b = n & 0x7F; n >>= 7
        if n: o += bytes([b | 0x80])
        else: return o + bytes([b])
ld = lambda f, p: v(f << 3 | 2) + v(len(p)) + p
req = ld(1, ld(2, ld(2, ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + ld(5, b"tls"))))
open(sys.argv[1] + "/req.pb", "wb").write(req)
open(sys.argv[1] + "/req.grpc", "wb").write(b"\0" + struct.pack(">I", len(req)) + req)
PY
vg_start c "$T/c.yaml"
GPATH=/opentelemetry.proto.collector.trace.v1.TraceService/Export
passed=0
pass() { ok "$1"; passed=$((passed + 1)); }

# grpc_call PORT CURL-ARGS... : prints grpc-status, or curl's exit code as "curl:N".
grpc_call() {
  local port=$1; shift
  local rc=0
  curl -sS --http2 -o /dev/null -D "$T/g.hdr" -H 'content-type: application/grpc' --data-binary "@$T/req.grpc" \
    "$@" "https://localhost:$port$GPATH" 2>"$T/g.err" || rc=$?
  if [ $rc -ne 0 ]; then echo "curl:$rc"; return; fi
  tr -d '\r' < "$T/g.hdr" | awk -F': ' '$1 == "grpc-status" { print $2 }'
}
# http_call PORT CURL-ARGS... : prints the HTTP status, or "curl:N".
http_call() {
  local port=$1; shift
  local rc=0 code
  code=$(curl -sS -o /dev/null -w '%{http_code} %{http_version}' -H 'content-type: application/x-protobuf' \
    --data-binary "@$T/req.pb" "$@" "https://localhost:$port/v1/traces" 2>"$T/h.err") || rc=$?
  if [ $rc -ne 0 ]; then echo "curl:$rc"; return; fi
  echo "$code"
}
RES=(--resolve "localhost:$G1:127.0.0.1" --resolve "localhost:$H1:127.0.0.1" --resolve "localhost:$G2:127.0.0.1"
     --resolve "localhost:$H2:127.0.0.1" --resolve "localhost:$G3:127.0.0.1")
CA=(--cacert "$T/ca.pem")
CLIENT=(--cert "$T/client.pem" --key "$T/client.key")
ROGUE=(--cert "$T/rogue.pem" --key "$T/rogue.key")

# ---- TLS
got=$(grpc_call "$G1" "${RES[@]}" "${CA[@]}" -v 2>/dev/null)
[ "$got" = 0 ] || fail "gRPC over TLS: $got $(cat "$T/g.err")"
pass "gRPC over TLS: grpc-status 0"
curl -sS --http2 -o /dev/null -v "${RES[@]}" "${CA[@]}" -H 'content-type: application/grpc' --data-binary "@$T/req.grpc" \
  "https://localhost:$G1$GPATH" 2>&1 | grep -q 'ALPN: server accepted h2' || fail "gRPC port did not select ALPN h2"
pass "gRPC port negotiates ALPN h2"
got=$(http_call "$H1" "${RES[@]}" "${CA[@]}" --http1.1)
[ "$got" = "200 1.1" ] || fail "HTTPS/1.1: $got"
got=$(http_call "$H1" "${RES[@]}" "${CA[@]}" --http2)
[ "$got" = "200 2" ] || fail "HTTPS h2 (ALPN): $got"
pass "HTTP over TLS: HTTP/1.1 and h2 by ALPN"
got=$(grpc_call "$G1" "${RES[@]}")
[ "$got" = "curl:60" ] || fail "a client that does not trust the CA: $got"
got=$(curl -sS -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'content-type: application/grpc' \
  --data-binary "@$T/req.grpc" "http://127.0.0.1:$G1$GPATH" 2>/dev/null || true)
[ "$got" != 200 ] || fail "plaintext h2c accepted on a TLS port"
got=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H1/v1/traces" 2>/dev/null || true)
[ "$got" != 200 ] && [ "$got" != 405 ] || fail "plaintext HTTP answered on a TLS port ($got)"
pass "untrusted server certificate and plaintext clients fail"

# ---- mTLS
for port in "$G2" "$H2"; do
  if [ "$port" = "$G2" ]; then call=grpc_call; good=0; else call=http_call; good="200 2"; fi
  got=$($call "$port" "${RES[@]}" "${CA[@]}" --http2)
  case "$got" in curl:*) ;; *) fail "mTLS port $port without a client certificate: $got";; esac
  got=$($call "$port" "${RES[@]}" "${CA[@]}" "${ROGUE[@]}" --http2)
  case "$got" in curl:*) ;; *) fail "mTLS port $port with a certificate from another CA: $got";; esac
  got=$($call "$port" "${RES[@]}" "${CA[@]}" "${CLIENT[@]}" --http2)
  [ "$got" = "$good" ] || fail "mTLS port $port with the right certificate: $got $(cat "$T/g.err" "$T/h.err" 2>/dev/null)"
done
got=$(http_call "$H2" "${RES[@]}" "${CA[@]}" "${CLIENT[@]}" --http1.1)
[ "$got" = "200 1.1" ] || fail "mTLS HTTP/1.1: $got"
n=$(metric "$M" vigil_receiver_otlp_tls_failures 'receiver="otlp/mtls"')
[ "$n" -ge 4 ] || fail "mTLS refusals counted: $n"
pass "mTLS: no certificate and a foreign CA's certificate refused ($n handshakes counted), the right one works (gRPC, h2, HTTP/1.1)"

# ---- min_version
got=$(grpc_call "$G3" "${RES[@]}" "${CA[@]}" --tls-max 1.2)
case "$got" in curl:*) ;; *) fail "TLS 1.2 client on a min_version 1.3 port: $got";; esac
got=$(grpc_call "$G3" "${RES[@]}" "${CA[@]}" --tlsv1.3)
[ "$got" = 0 ] || fail "TLS 1.3 client: $got"
pass "min_version 1.3 refuses TLS 1.2, takes 1.3"

# still serving, and everything accepted arrived
got=$(grpc_call "$G1" "${RES[@]}" "${CA[@]}")
[ "$got" = 0 ] || fail "not serving after the refusals: $got"
wait_metric 10 "$M" vigil_exporter_sent_spans 9 || fail "accepted spans did not reach the exporter"
vg_stop c
echo "$passed passed, 0 failed"
