# The official OpenTelemetry JS SDK (npm, pinned in node/package-lock.json)
# sends traces, metrics and logs to Vigil's otlp receiver with each of its
# exporters - gRPC (exporter-*-otlp-grpc), HTTP protobuf (-otlp-proto) and
# HTTP JSON (-otlp-http) - with and without gzip. The SDK script writes what
# it sent as OTLP/JSON (its own serializer over the exported batches); Vigil's
# file exporter output must hold exactly those items (tests/otlp_items.py
# after normalising the spelling of repeated uint64s), and the rich content
# is checked field by field (otlp_sdk_receive_check.py rich).
. "$VIGIL_SRC/tests/lib.sh"
NODE_DIR="$VIGIL_SRC/tests/interop/node"
command -v node >/dev/null 2>&1 || skip "node is not installed (scripts/deps.sh test installs it)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (scripts/deps.sh test installs it)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || skip "node $major is too old for the pinned SDK (needs 18.19+ or 20.6+)"
need_pkgs="api sdk-trace-base sdk-metrics sdk-logs otlp-transformer exporter-trace-otlp-grpc exporter-trace-otlp-proto
  exporter-trace-otlp-http exporter-metrics-otlp-grpc exporter-metrics-otlp-proto exporter-metrics-otlp-http
  exporter-logs-otlp-grpc exporter-logs-otlp-proto exporter-logs-otlp-http"
missing=0
for p in $need_pkgs; do [ -d "$NODE_DIR/node_modules/@opentelemetry/$p" ] || missing=1; done
if [ $missing = 1 ]; then
  (cd "$NODE_DIR" && flock "$NODE_DIR/.npm-lock" npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
    { cat "$T/npm.log" >&2; fail "npm ci failed in $NODE_DIR"; }
fi

G=$(free_port); H=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G" }
      http: { endpoint: "127.0.0.1:$H" }
exporters:
  file: { path: $T/got.json, flush_interval: 10ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp], exporters: [file] }
    metrics: { receivers: [otlp], exporters: [file] }
    logs: { receivers: [otlp], exporters: [file] }
YAML
vg_start c "$T/c.yaml"

runs=""
for proto in grpc proto json; do
  for comp in none gzip; do
    tag="$proto-$comp"
    timeout 120 node "$NODE_DIR/otlp_sdk_receive.js" --protocol "$proto" --compression "$comp" \
      --grpc "http://127.0.0.1:$G" --http "http://127.0.0.1:$H" --out "$T/sent.jsonl" --tag "$tag" \
      >"$T/node-$tag.log" 2>&1 || { cat "$T/node-$tag.log" >&2; fail "the SDK ($tag) could not export"; }
    ok "SDK $tag: all exports succeeded"
    runs+="${runs:+,}$tag"
  done
done
read -r S P L < <(items --count "$T/sent.jsonl")
[ "$S" -gt 0 ] && [ "$P" -gt 0 ] && [ "$L" -gt 0 ] || fail "the SDK sent $S spans, $P points, $L log records"
wait_metric 20 "$M" vigil_exporter_sent_spans "$S" || fail "spans missing"
wait_metric 20 "$M" vigil_exporter_sent_metric_points "$P" || fail "metric points missing"
wait_metric 20 "$M" vigil_exporter_sent_log_records "$L" || fail "log records missing"
for p in grpc http; do
  n=$(metric "$M" vigil_receiver_otlp_requests "protocol=\"$p\"")
  a=$(metric "$M" vigil_receiver_otlp_requests "protocol=\"$p\",signal=\"traces\",outcome=\"accepted\"")
  [ "$a" -gt 0 ] && [ "$n" -gt 0 ] || fail "no accepted $p requests counted"
done
r=$(metric "$M" vigil_receiver_otlp_requests 'outcome="rejected"')
[ "$r" = 0 ] || fail "$r requests rejected"
vg_stop c

CHECK="$VIGIL_SRC/tests/interop/otlp_sdk_receive_check.py"
python3 "$CHECK" normalize "$T/sent.jsonl" "$T/sent.norm"
python3 "$CHECK" normalize "$T/got.json" "$T/got.norm"
items --compare "$T/sent.norm" "$T/got.norm" || fail "Vigil's output differs from what the SDK sent"
ok "exactly the $S spans, $P metric points and $L log records the SDK sent (3 protocols x gzip/none)"
python3 "$CHECK" rich "$T/got.json" "$runs" || fail "rich content lost"
ok "every field of the rich data arrived (ids, kinds, nanosecond times, status, events, links, all value types, severity, bodies, sums, gauges, histograms, exponential histograms)"
echo "8 passed, 0 failed"
