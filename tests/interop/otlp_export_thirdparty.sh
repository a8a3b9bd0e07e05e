# Vigil's otlp and otlphttp exporters → a third-party OTLP server (node:
# @grpc/grpc-js for gRPC, node's http for OTLP/HTTP protobuf and JSON). The
# server writes what it received as OTLP/JSON lines; it must hold exactly the
# items Vigil read (otlpjsonfile). gzip, zstd (HTTP: the server decodes it with
# the zstd command; grpc-js has no zstd) and none; custom headers; partial
# success counted and not retried.
. "$VIGIL_SRC/tests/lib.sh"
. "$VIGIL_SRC/tests/interop/node/otlp_export_lib.bash"
node_setup
mkdir -p "$T/in"
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
cat "$T"/in/*.jsonl > "$T/all.in"
read -r S P L < <(items --count "$T/all.in")
total=$((S + P + L))
nreq=$(grep -c . "$T/all.in")   # otlpjsonfile sends one request per line

# case NAME EXPORTER-YAML-LINE SERVER-ARGS...: one exporter to one server.
variants=(
  "grpc_gzip|otlp|{ endpoint: 127.0.0.1:%G, tls: { insecure: true }, compression: gzip, headers: { authorization: \"Bearer s3cret\", x-tenant: acme } }"
  "grpc_none|otlp|{ endpoint: \"http://127.0.0.1:%G\", tls: { insecure: true }, compression: none }"
  "http_proto_gzip|otlphttp|{ endpoint: \"http://127.0.0.1:%H\", compression: gzip, headers: { authorization: \"Bearer s3cret\" } }"
  "http_json_none|otlphttp|{ endpoint: \"http://127.0.0.1:%H/\", encoding: json, compression: none }"
  "http_proto_zstd|otlphttp|{ traces_endpoint: \"http://127.0.0.1:%H/v1/traces\", metrics_endpoint: \"http://127.0.0.1:%H/v1/metrics\", logs_endpoint: \"http://127.0.0.1:%H/v1/logs\", compression: zstd }"
  "http_json_gzip|otlphttp|{ endpoint: \"http://127.0.0.1:%H\", encoding: json, compression: gzip }"
)
passed=0
exporters="" ids=""
for v in "${variants[@]}"; do
  IFS='|' read -r name type body <<<"$v"
  g=$(free_port); h=$(free_port)
  srv_start "srv_$name" --grpc-port "$g" --http-port "$h" --out "$T/$name.out"
  printf -v "PORT_$name" '%s' "$h"
  body=${body//%G/$g}; body=${body//%H/$h}
  exporters+="  $type/$name: $body"$'\n'
  ids+="$type/$name, "
done
mport=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
$exporters
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [${ids%, }] }
    metrics: { receivers: [otlpjsonfile], exporters: [${ids%, }] }
    logs: { receivers: [otlpjsonfile], exporters: [${ids%, }] }
YAML
vg_start v "$T/c.yaml"
for v in "${variants[@]}"; do
  IFS='|' read -r name type body <<<"$v"
  wait_metric 30 "$mport" vigil_exporter_sent "$total" "exporter=\"$type/$name\"" || fail "$name: not everything sent"
done
failed=$(metric "$mport" vigil_exporter_send_failed)
[ "$failed" = 0 ] || fail "send_failed = $failed"
# grpc-js hides grpc-encoding from handlers: compare the bytes on the wire instead.
wg=$(metric "$mport" vigil_exporter_otlp_wire_bytes_sent 'otlp/grpc_gzip')
wn=$(metric "$mport" vigil_exporter_otlp_wire_bytes_sent 'otlp/grpc_none')
[ "$wg" -gt 0 ] && [ "$wg" -lt "$wn" ] || fail "gRPC gzip sent $wg bytes, none $wn: not compressed?"
vg_stop v
for v in "${variants[@]}"; do
  IFS='|' read -r name type body <<<"$v"
  items --compare "$T/all.in" "$T/$name.out" >"$T/cmp.txt" || { cat "$T/cmp.txt"; fail "$name: the server received different items"; }
  ok "$name: server received exactly the $total items Vigil read ($(cat "$T/cmp.txt"))"
  passed=$((passed + 1))
done

# Encodings and headers as the server saw them.
p=$PORT_grpc_gzip
[ "$(srv_stat "$p" "s['headers'].get('authorization')")" = "Bearer s3cret" ] || fail "grpc: authorization header missing"
[ "$(srv_stat "$p" "s['headers'].get('x-tenant')")" = "acme" ] || fail "grpc: x-tenant header missing"
[ "$(srv_stat "$PORT_http_proto_gzip" "s['headers'].get('authorization')")" = "Bearer s3cret" ] || fail "http: authorization header missing"
[ "$(srv_stat "$PORT_http_proto_zstd" "s['encodings'].get('zstd',0)")" -ge 3 ] || fail "http zstd: server saw no zstd"
[ "$(srv_stat "$PORT_http_json_gzip" "s['encodings'].get('gzip',0)")" -ge 3 ] || fail "http json gzip: not gzip"
for v in "${variants[@]}"; do
  IFS='|' read -r name type body <<<"$v"
  var=PORT_$name
  a=$(srv_stat "${!var}" "s['grpc']['attempts'] + s['http']['attempts']")
  [ "$a" -eq "$nreq" ] || fail "$name: $a attempts for $nreq requests (retries without failures?)"
done
ok "headers (authorization, x-tenant) and encodings as configured (HTTP gzip/zstd seen by the server; gRPC gzip $wg bytes vs $wn uncompressed); one attempt per request"
passed=$((passed + 1))

# Partial success: counted, logged, not retried.
for proto in grpc http; do
  g=$(free_port); h=$(free_port); m2=$(free_port)
  srv_start "psrv_$proto" --grpc-port "$g" --http-port "$h" --out "$T/p_$proto.out" --partial 1
  if [ $proto = grpc ]; then ex="otlp: { endpoint: 127.0.0.1:$g, tls: { insecure: true } }"; id=otlp
  else ex="otlphttp: { endpoint: \"http://127.0.0.1:$h\" }"; id=otlphttp; fi
  cat > "$T/p_$proto.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
  $ex
service:
  telemetry: { metrics: { address: "127.0.0.1:$m2" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [$id] }
    metrics: { receivers: [otlpjsonfile], exporters: [$id] }
    logs: { receivers: [otlpjsonfile], exporters: [$id] }
YAML
  vg_start "p_$proto" "$T/p_$proto.yaml"
  wait_metric 20 "$m2" "vigil_exporter_${id}_requests_succeeded" "$nreq" || fail "$proto partial: requests not answered"
  rej=$(metric "$m2" "vigil_exporter_${id}_partial_rejected")
  sent=$(metric "$m2" vigil_exporter_sent)
  sfail=$(metric "$m2" vigil_exporter_send_failed)
  retries=$(metric "$m2" "vigil_exporter_${id}_retries")
  vg_stop "p_$proto"
  [ "$rej" = "$nreq" ] || fail "$proto partial: partial_rejected = $rej, want $nreq (1 per request)"
  [ "$sent" = $((total - nreq)) ] && [ "$sfail" = "$nreq" ] || fail "$proto partial: sent $sent / send_failed $sfail"
  [ "$retries" = 0 ] || fail "$proto partial: retried"
  grep -q 'partial success: backend rejected 1 of' "$T/p_$proto.log" || fail "$proto partial: not logged"
  a=$(srv_stat "$h" "s['grpc']['attempts'] + s['http']['attempts']")
  [ "$a" = "$nreq" ] || fail "$proto partial: $a attempts for $nreq requests"
  ok "$proto partial success: $rej rejected items counted and logged, $sent sent, no retry"
  passed=$((passed + 1))
done
echo "$passed passed, 0 failed"
