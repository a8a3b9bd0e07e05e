# anomaly processor and connector on spans through the otlp receiver (OTLP/JSON
# over HTTP): services checkout (~20 ms) and catalog (~30 ms) send 30 spans a
# second; after 6 s checkout's span durations jump 10x for 3 s.
#   (5) the processor: every slow checkout span (3 s of them) carries
#       anomaly.score >= 0.7 in the file exporter's output; no catalog span
#       does, nor any checkout span before the jump (after the warm-up);
#       the connector: a span.duration event names service checkout and its
#       span, none names catalog.
# One run, well under 60 s.
. "$VIGIL_SRC/tests/lib.sh"

"$VIGIL_BIN" components > "$T/components" || fail "vigil components failed"
grep -q '^receiver otlp ' "$T/components" || skip "otlp receiver not built yet"
command -v python3 >/dev/null || skip "python3 is needed"
EVPY="$VIGIL_SRC/tests/component/anomaly_events.py"
SEND="$VIGIL_SRC/tests/component/anomaly_otlp_send.py"

p=$(free_port)
port=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:$p" } } }
processors:
  anomaly: { warmup: 20 }
connectors:
  anomaly: { warmup: 20 }
exporters:
  file/spans: { path: $T/spans.json }
  file/events: { path: $T/events.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    traces: { receivers: [otlp], processors: [anomaly], exporters: [file/spans, anomaly] }
    logs/anomaly: { receivers: [anomaly], exporters: [file/events] }
YAML
vg_start c "$T/c.yaml"

python3 "$SEND" "http://127.0.0.1:$p/v1/traces" 6 1 >/dev/null || fail "sending the normal spans failed"
python3 "$EVPY" events "$T/events.json" --none || fail "events before the jump"
JUMP=$(python3 "$SEND" "http://127.0.0.1:$p/v1/traces" 3 10) || fail "sending the slow spans failed"
JUMP=$((JUMP - 5000000)) # the first request's spans end up to 2 ms before it is sent
wait_until 5 python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=span.duration \
  --res service.name=checkout >/dev/null || fail "no span.duration event for checkout"
python3 "$EVPY" events "$T/events.json"
python3 "$EVPY" events "$T/events.json" --res service.name=checkout --attr anomaly.name="GET /cart" \
  --body "service checkout: span 'GET /cart' took " --body ", expected " >/dev/null || fail "the event text"
python3 "$EVPY" events "$T/events.json" --res service.name=catalog --none >/dev/null || fail "an event for catalog"
ok "(5) connector: a span.duration event names service checkout; none for catalog"

vg_stop c
python3 "$EVPY" spans "$T/spans.json" checkout | sort -n > "$T/checkout"
python3 "$EVPY" spans "$T/spans.json" catalog | sort -n > "$T/catalog"
[ "$(wc -l < "$T/checkout")" -ge 120 ] || fail "checkout spans missing in the output"
grep -q ' none$' "$T/checkout" "$T/catalog" && fail "spans without anomaly.score"
# before the jump, past the warm-up (the first 20 spans): low; the first 10 slow ones: high
awk -v j="$JUMP" 'NR > 20 && $1 < j && $3 + 0 >= 0.7 { print "before the jump:", $0; bad = 1 } END { exit bad }' \
  "$T/checkout" || fail "checkout spans scored high before the jump"
awk -v j="$JUMP" '$1 >= j { n++; if ($3 + 0 >= 0.7) hi++; else if (!low) low = n }
  END { printf "slow spans: %d, scoring >= 0.7: %d, first below: %s\n", n, hi, low ? low : "none"
        exit !(n >= 40 && hi == n) }' "$T/checkout" || fail "checkout's slow spans did not all score high"
awk '$3 + 0 >= 0.7 { print "catalog:", $0; bad = 1 } END { exit bad }' "$T/catalog" || fail "catalog spans scored high"
ok "(5) processor: every slow checkout span scores >= 0.7; catalog's and the earlier ones stay below"
echo "2 passed, 0 failed"
