# TLS and mTLS of the otlp and otlphttp exporters against the node OTLP server
# with a CA and certificates made here (openssl): ca_file verifies the server;
# without it verification fails (send_failed counted); insecure_skip_verify;
# server_name_override; a server that requires a client certificate accepts
# cert_file/key_file and refuses a client without one.
. "$VIGIL_SRC/tests/lib.sh"
. "$VIGIL_SRC/tests/interop/node/otlp_export_lib.bash"
command -v openssl >/dev/null || skip "openssl is not installed (scripts/deps.sh test installs it)"
node_setup
cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=vigil test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
mkcert() { # name subject san
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
mkcert server "/CN=localhost" "DNS:localhost,IP:127.0.0.1"
mkcert other "/CN=otlp.test" "DNS:otlp.test"
mkcert client "/CN=vigil client" "DNS:client"
[ -s server.pem ] && [ -s client.pem ] && [ -s other.pem ] || fail "could not make certificates"

g=$(free_port); h=$(free_port); a=$(free_port)       # server: TLS, no client certificate
gm=$(free_port); hm=$(free_port); am=$(free_port)    # server: mTLS
go=$(free_port); ho=$(free_port); ao=$(free_port)    # server: certificate for otlp.test only
srv_start tls --grpc-port "$g" --http-port "$h" --admin-port "$a" --out "$T/tls.out" --tls-cert server.pem --tls-key server.key
srv_start mtls --grpc-port "$gm" --http-port "$hm" --admin-port "$am" --out "$T/mtls.out" --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem
srv_start other --grpc-port "$go" --http-port "$ho" --admin-port "$ao" --out "$T/other.out" --tls-cert other.pem --tls-key other.key
mkdir -p in; cp "$VIGIL_SRC"/tests/data/otlp/traces.jsonl in/
read -r S _ _ < <(items --count in/traces.jsonl)
NORETRY='retry_on_failure: { enabled: false }, timeout: 3s'
m=$(free_port)
cat > c.yaml <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
  otlp/ca: { endpoint: "localhost:$g", tls: { ca_file: $T/ca.pem }, $NORETRY }
  otlphttp/ca: { endpoint: "https://127.0.0.1:$h", tls: { ca_file: $T/ca.pem }, $NORETRY }
  otlp/noca: { endpoint: "127.0.0.1:$g", $NORETRY }
  otlphttp/noca: { endpoint: "https://127.0.0.1:$h", $NORETRY }
  otlp/skip: { endpoint: "127.0.0.1:$g", tls: { insecure_skip_verify: true }, $NORETRY }
  otlp/override: { endpoint: "127.0.0.1:$go", tls: { ca_file: $T/ca.pem, server_name_override: otlp.test }, $NORETRY }
  otlphttp/override: { endpoint: "https://127.0.0.1:$ho", tls: { ca_file: $T/ca.pem, server_name_override: otlp.test }, $NORETRY }
  otlp/mtls: { endpoint: "127.0.0.1:$gm", tls: { ca_file: $T/ca.pem, cert_file: $T/client.pem, key_file: $T/client.key }, $NORETRY }
  otlphttp/mtls: { endpoint: "https://127.0.0.1:$hm", tls: { ca_file: $T/ca.pem, cert_file: $T/client.pem, key_file: $T/client.key }, $NORETRY }
  otlp/nocert: { endpoint: "127.0.0.1:$gm", tls: { ca_file: $T/ca.pem }, $NORETRY }
  otlphttp/nocert: { endpoint: "https://127.0.0.1:$hm", tls: { ca_file: $T/ca.pem }, $NORETRY }
service:
  telemetry: { metrics: { address: "127.0.0.1:$m" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [otlp/ca, otlphttp/ca, otlp/noca, otlphttp/noca, otlp/skip, otlp/override, otlphttp/override, otlp/mtls, otlphttp/mtls, otlp/nocert, otlphttp/nocert] }
YAML
vg_start v c.yaml
good="otlp/ca otlphttp/ca otlp/skip otlp/override otlphttp/override otlp/mtls otlphttp/mtls"
bad="otlp/noca otlphttp/noca otlp/nocert otlphttp/nocert"
for id in $good; do wait_metric 20 "$m" vigil_exporter_sent_spans "$S" "exporter=\"$id\"" || fail "$id: not sent over TLS"; done
for id in $bad; do wait_metric 20 "$m" vigil_exporter_send_failed_spans "$S" "exporter=\"$id\"" || fail "$id: failure not counted"; done
for id in $bad; do [ "$(metric "$m" vigil_exporter_sent_spans "exporter=\"$id\"")" = 0 ] || fail "$id: sent without trust"; done
vg_stop v
grep -qi 'certificate' "$T/v.log" || fail "verification failures not logged"
[ "$(srv_stat "$a" "s['items']")" = $((S * 3)) ] || fail "TLS server: wrong item count"
[ "$(srv_stat "$am" "s['items']")" = $((S * 2)) ] || fail "mTLS server: wrong item count"
[ "$(srv_stat "$ao" "s['items']")" = $((S * 2)) ] || fail "override server: wrong item count"
ok "TLS with ca_file (gRPC ALPN h2 and HTTPS), insecure_skip_verify and server_name_override deliver"
ok "without the CA the server is not trusted: send_failed counted, nothing sent"
ok "mTLS: with cert_file/key_file accepted; without a client certificate refused (send_failed)"
echo "3 passed, 0 failed"
