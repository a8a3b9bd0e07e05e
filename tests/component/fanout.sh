# Fan-out: one receiver feeds two pipelines; one has a mutating processor
# (resource upsert + delete). The other pipeline must see the data unmodified.
. "$VIGIL_SRC/tests/lib.sh"
mkdir -p "$T/in"
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
cat "$T"/in/*.jsonl > "$T/all.in"
port=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
processors:
  resource:
    attributes:
      - { key: deployment.environment, value: prod, action: upsert }
      - { key: host.name, action: delete }
exporters:
  file/plain: { path: $T/plain.json }
  file/tagged: { path: $T/tagged.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    traces/tagged: { receivers: [otlpjsonfile], processors: [resource], exporters: [file/tagged] }
    traces/plain: { receivers: [otlpjsonfile], exporters: [file/plain] }
    logs/tagged: { receivers: [otlpjsonfile], processors: [resource], exporters: [file/tagged] }
    logs/plain: { receivers: [otlpjsonfile], exporters: [file/plain] }
    metrics/tagged: { receivers: [otlpjsonfile], processors: [resource], exporters: [file/tagged] }
    metrics/plain: { receivers: [otlpjsonfile], exporters: [file/plain] }
YAML
vg_start c "$T/c.yaml"
read -r s p l < <(items --count "$T/all.in")
wait_metric 20 "$port" vigil_exporter_sent $((s + p + l)) 'file/plain' || fail "plain incomplete"
wait_metric 20 "$port" vigil_exporter_sent $((s + p + l)) 'file/tagged' || fail "tagged incomplete"
vg_stop c
items --compare "$T/all.in" "$T/plain.json" || fail "the plain pipeline saw modified data"
ok "plain pipeline unmodified"
grep -q '"host.name"' "$T/all.in" || fail "test data has no host.name"
grep -q '"host.name"' "$T/tagged.json" && fail "host.name not deleted in the tagged pipeline"
n=$(grep -o '"deployment.environment","value":{"stringValue":"prod"}' "$T/tagged.json" | wc -l)
[ "$n" -gt 0 ] || fail "tagged pipeline lacks deployment.environment"
grep -q 'deployment.environment' "$T/plain.json" && fail "mutation leaked into the plain pipeline"
read -r s2 p2 l2 < <(items --count "$T/tagged.json")
[ "$s2 $p2 $l2" = "$s $p $l" ] || fail "tagged pipeline lost items ($s2 $p2 $l2 vs $s $p $l)"
ok "tagged pipeline modified, same item counts"
echo "1 passed, 0 failed"
