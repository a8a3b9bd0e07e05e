# memory_limiter: below the process's RSS it refuses everything (the receiver is
# pushed back and keeps its place); with room it passes everything; bad limits
# are configuration errors.
. "$VIGIL_SRC/tests/lib.sh"
mkdir -p "$T/in"
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
cat "$T"/in/*.jsonl > "$T/all.in"
read -r s p l < <(items --count "$T/all.in")
port=$(free_port)
mk() { cat <<YAML
receivers: { otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms } }
processors: { memory_limiter: { check_interval: 50ms, $1 } }
exporters: { file: { path: "$T/out.json" } }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], processors: [memory_limiter], exporters: [file] }
    metrics: { receivers: [otlpjsonfile], processors: [memory_limiter], exporters: [file] }
    logs: { receivers: [otlpjsonfile], processors: [memory_limiter], exporters: [file] }
YAML
}
mk "limit_mib: 2, spike_limit_mib: 1" > "$T/low.yaml"
vg_start low "$T/low.yaml"
wait_metric 10 "$port" vigil_receiver_refused $((s + p + l)) || fail "data was not refused under a tiny limit"
[ "$(metric "$port" vigil_exporter_sent)" -eq 0 ] || fail "data passed a limit it is over"
[ "$(metric_exact "$port" vigil_processor_memory_limiter_refusing)" -ge 1 ] || fail "refusing gauge not set"
grep -q 'above the soft limit' "$T/low.log" || fail "refusal not logged"
vg_stop low
ok "over the limit: everything refused, nothing exported"

mk "limit_percentage: 90, spike_limit_percentage: 10" > "$T/high.yaml"
vg_start high "$T/high.yaml"
wait_metric 10 "$port" vigil_exporter_sent $((s + p + l)) || fail "data did not pass a generous limit"
vg_stop high
items --compare "$T/all.in" "$T/out.json" || fail "data changed"
ok "under the limit: everything passes"

mk "spike_limit_mib: 10" > "$T/bad.yaml"
rc=0; "$VIGIL_BIN" validate --config "$T/bad.yaml" > "$T/v.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q 'set limit_mib or limit_percentage' "$T/v.out" || fail "missing limit accepted"
mk "limit_mib: 100, spike_limit_mib: 100" > "$T/bad.yaml"
rc=0; "$VIGIL_BIN" validate --config "$T/bad.yaml" > "$T/v.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q 'must be below limit_mib' "$T/v.out" || fail "spike >= limit accepted"
ok "limit rules validated"
echo "1 passed, 0 failed"
