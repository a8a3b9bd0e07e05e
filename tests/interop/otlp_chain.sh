# Chaining: Vigil A (otlpjsonfile → otlp exporter gzip / otlphttp proto /
# otlphttp json) → Vigil B (otlp receiver) → file. B's output must hold exactly
# A's input, for each of the three paths.
. "$VIGIL_SRC/tests/lib.sh"
"$VIGIL_BIN" components > "$T/components.txt"
grep -q '^receiver otlp ' "$T/components.txt" || skip "otlp receiver not built yet"
mkdir -p "$T/in"
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
python3 - "$T/in/more.jsonl" <<'PY'
import json, sys
# a larger request too (many spans, every attribute value type)
spans = [{"traceId": "%032x" % (i + 1), "spanId": "%016x" % (i + 1), "parentSpanId": "%016x" % (i + 7),
          "name": "chain-%d" % i, "kind": 3, "startTimeUnixNano": str(1700000000000000000 + i),
          "endTimeUnixNano": str(1700000000000000999 + i), "status": {"code": 2, "message": "bad"},
          "attributes": [{"key": "s", "value": {"stringValue": "é✓%d" % i}}, {"key": "b", "value": {"boolValue": True}},
                         {"key": "d", "value": {"doubleValue": 1.5 + i}}, {"key": "y", "value": {"bytesValue": "AAEC"}},
                         {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "-3"}, {"stringValue": "x"}]}}},
                         {"key": "k", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "9"}}]}}}],
          "events": [{"timeUnixNano": "1700000000000000500", "name": "ev"}],
          "links": [{"traceId": "%032x" % 99, "spanId": "%016x" % 98}]} for i in range(500)]
open(sys.argv[1], "w").write(json.dumps({"resourceSpans": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "chain"}}]}, "scopeSpans": [{"scope": {"name": "c", "version": "1"},
    "spans": spans}]}]}) + "\n")
PY
cat "$T"/in/*.jsonl > "$T/all.in"
read -r S P L < <(items --count "$T/all.in")
total=$((S + P + L))
g=$(free_port); h1=$(free_port); h2=$(free_port); ma=$(free_port); mb=$(free_port)
cat > "$T/b.yaml" <<YAML
receivers:
  otlp/grpc: { protocols: { grpc: { endpoint: "127.0.0.1:$g" } } }
  otlp/proto: { protocols: { http: { endpoint: "127.0.0.1:$h1" } } }
  otlp/json: { protocols: { http: { endpoint: "127.0.0.1:$h2" } } }
exporters:
  file/grpc: { path: $T/grpc.json }
  file/proto: { path: $T/proto.json }
  file/json: { path: $T/json.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mb" } }
  pipelines:
YAML
for v in grpc proto json; do
  for s in traces metrics logs; do
    echo "    $s/$v: { receivers: [otlp/$v], exporters: [file/$v] }" >> "$T/b.yaml"
  done
done
cat > "$T/a.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
  otlp: { endpoint: "127.0.0.1:$g", tls: { insecure: true }, compression: gzip }
  otlphttp/proto: { endpoint: "http://127.0.0.1:$h1", encoding: proto }
  otlphttp/json: { endpoint: "http://127.0.0.1:$h2", encoding: json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$ma" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [otlp, otlphttp/proto, otlphttp/json] }
    metrics: { receivers: [otlpjsonfile], exporters: [otlp, otlphttp/proto, otlphttp/json] }
    logs: { receivers: [otlpjsonfile], exporters: [otlp, otlphttp/proto, otlphttp/json] }
YAML
vg_start b "$T/b.yaml"
vg_start a "$T/a.yaml"
for id in otlp otlphttp/proto otlphttp/json; do
  wait_metric 30 "$ma" vigil_exporter_sent "$total" "exporter=\"$id\"" || fail "A: $id did not send everything"
done
for v in grpc proto json; do
  wait_metric 30 "$mb" vigil_exporter_sent "$total" "exporter=\"file/$v\"" || fail "B: file/$v incomplete"
done
[ "$(metric "$ma" vigil_exporter_send_failed)" = 0 ] || fail "A: send failures"
vg_stop a
vg_stop b
passed=0
for v in grpc proto json; do
  items --compare "$T/all.in" "$T/$v.json" > "$T/cmp.txt" || { cat "$T/cmp.txt"; fail "$v: B's output differs from A's input"; }
  ok "A → B over $v: $(cat "$T/cmp.txt") identical"
  passed=$((passed + 1))
done
echo "$passed passed, 0 failed"
