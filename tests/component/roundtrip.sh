# Round trip: OTLP/JSON files of all three signals -> otlpjsonfile -> batch -> file;
# output equal to input item for item; the output re-read by otlpjsonfile gives
# the same again. Once plain, once with zstd between the two collectors.
. "$VIGIL_SRC/tests/lib.sh"
mkdir -p "$T/in" "$T/mid"
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
cat "$T"/in/*.jsonl > "$T/all.in"
read -r spans points logs < <(items --count "$T/all.in")
[ "$spans" -gt 0 ] && [ "$points" -gt 0 ] && [ "$logs" -gt 0 ] || fail "sample data lacks a signal"

for comp in none zstd; do
  p1=$(free_port); p2=$(free_port)
  cat > "$T/a.yaml" <<YAML
receivers:
  otlpjsonfile:
    include: ["$T/in/*.jsonl"]
    start_at: beginning
    poll_interval: 20ms
processors:
  batch:
    send_batch_size: 5
    send_batch_max_size: 5
exporters:
  file:
    path: $T/mid/out.json
    compression: $comp
service:
  telemetry: { metrics: { address: "127.0.0.1:$p1" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    metrics: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    logs: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
YAML
  vg_start a "$T/a.yaml"
  total=$((spans + points + logs))
  wait_metric 20 "$p1" vigil_processor_accepted "$total" || fail "a did not read everything"
  vg_stop a
  [ "$comp" = zstd ] && { head -c4 "$T/mid/out.json" | od -An -tx1 | grep -q '28 b5 2f fd' || fail "not zstd"; }
  items --compare "$T/all.in" "$T/mid/out.json" || fail "first hop ($comp) changed the data"
  ok "first hop ($comp): same items"

  # Second hop reads what the first wrote.
  sed -e "s#$T/in/\*.jsonl#$T/mid/out.json#" -e "s#$T/mid/out.json\$#$T/final.json#" \
      -e "s#compression: $comp#compression: none#" -e "s#127.0.0.1:$p1#127.0.0.1:$p2#" "$T/a.yaml" > "$T/b.yaml"
  grep -q "$T/final.json" "$T/b.yaml" || fail "b.yaml not rewritten"
  vg_start b "$T/b.yaml"
  wait_metric 20 "$p2" vigil_processor_accepted "$total" || fail "b did not read everything"
  vg_stop b
  items --compare "$T/all.in" "$T/final.json" || fail "second hop ($comp) changed the data"
  ok "second hop ($comp): same items"
  rm -f "$T/mid/out.json" "$T/final.json"
done
echo "1 passed, 0 failed"
