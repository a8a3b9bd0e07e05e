# Retry and back-pressure of the otlp and otlphttp exporters against a
# third-party OTLP server (node, tests/interop/node/otlp_server.js):
#  A. the server fails 30% of requests (UNAVAILABLE; 503 + Retry-After;
#     RESOURCE_EXHAUSTED + RetryInfo) and delays the others: every item still
#     arrives at least once.
#  B. the server is down longer than the queue can hold: the pipeline refuses
#     upstream (the otlp receiver's clients get UNAVAILABLE / 503, or, without
#     the receiver, otlpjsonfile keeps its offset and enqueue_failed grows),
#     Vigil's RSS stays under a ceiling; when the server comes back the queue
#     drains and everything accepted arrives.
#  C. a permanent error (INVALID_ARGUMENT / 400) is tried once, never retried.
. "$VIGIL_SRC/tests/lib.sh"
. "$VIGIL_SRC/tests/interop/node/otlp_export_lib.bash"
node_setup
passed=0
RETRY='retry_on_failure: { initial_interval: 20ms, max_interval: 200ms, max_elapsed_time: 120s }'

# ---- A. flaky server ----------------------------------------------------------
mkdir -p "$T/in"
gen_traces "$T/in/gen.jsonl" 200 10
read -r S _ _ < <(items --count "$T/in/gen.jsonl")
g1=$(free_port); g2=$(free_port); h3=$(free_port); h1=$(free_port); h2=$(free_port); m=$(free_port)
srv_start flaky_grpc --grpc-port "$g1" --http-port "$h1" --out "$T/flaky_grpc.out" --fail-rate 0.3 --delay-ms 30 --seed 1
srv_start throttle_grpc --grpc-port "$g2" --http-port "$h2" --out "$T/throttle_grpc.out" --fail-rate 0.3 --exhausted --retry-after 0 --seed 2
srv_start flaky_http --http-port "$h3" --out "$T/flaky_http.out" --fail-rate 0.3 --delay-ms 30 --retry-after 1 --seed 3
cat > "$T/a.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
  otlp/flaky: { endpoint: 127.0.0.1:$g1, tls: { insecure: true }, timeout: 2s, $RETRY }
  otlp/throttled: { endpoint: 127.0.0.1:$g2, tls: { insecure: true }, $RETRY }
  otlphttp/flaky: { endpoint: "http://127.0.0.1:$h3", $RETRY }
service:
  telemetry: { metrics: { address: "127.0.0.1:$m" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [otlp/flaky, otlp/throttled, otlphttp/flaky] }
YAML
vg_start a "$T/a.yaml"
for id in otlp/flaky otlp/throttled otlphttp/flaky; do
  wait_metric 120 "$m" vigil_exporter_sent_spans "$S" "exporter=\"$id\"" || fail "$id: not everything sent"
done
[ "$(metric "$m" vigil_exporter_send_failed)" = 0 ] || fail "some items were given up"
r1=$(metric "$m" vigil_exporter_otlp_retries 'otlp/flaky'); r2=$(metric "$m" vigil_exporter_otlp_retries 'otlp/throttled')
r3=$(metric "$m" vigil_exporter_otlphttp_retries 'otlphttp/flaky')
vg_stop a
for s in flaky_grpc throttle_grpc flaky_http; do
  covers "$T/in/gen.jsonl" "$T/$s.out" > "$T/cov.txt" || { cat "$T/cov.txt"; fail "$s: items lost"; }
  ok "$s: $(cat "$T/cov.txt")"
done
f1=$(srv_stat "$h1" "s['grpc']['failed']"); f2=$(srv_stat "$h2" "s['grpc']['failed']"); f3=$(srv_stat "$h3" "s['http']['failed']")
[ "$f1" -gt 20 ] && [ "$f2" -gt 20 ] && [ "$f3" -gt 20 ] || fail "servers failed too few requests ($f1, $f2, $f3)"
[ "$r1" -ge "$f1" ] && [ "$r2" -ge "$f2" ] && [ "$r3" -ge "$f3" ] || fail "retries ($r1 $r2 $r3) below the failures ($f1 $f2 $f3)"
ok "30% failures (UNAVAILABLE $f1, RESOURCE_EXHAUSTED+RetryInfo $f2, 503+Retry-After $f3) all retried ($r1, $r2, $r3 retries); nothing lost"
passed=$((passed + 3))

# ---- B. server down longer than the queue holds ----------------------------------
gen_traces "$T/big.jsonl" 20 1000
down=$(free_port); m=$(free_port)
QUEUE='sending_queue: { num_consumers: 4, queue_size: 1000, max_bytes: 4MiB }'
if "$VIGIL_BIN" components > "$T/components.txt" && grep -q '^receiver otlp ' "$T/components.txt"; then
  echo "back-pressure checked through the otlp receiver (clients must get UNAVAILABLE / 503)"
  rg=$(free_port); rh=$(free_port)
  cat > "$T/b.yaml" <<YAML
receivers:
  otlp: { protocols: { grpc: { endpoint: "127.0.0.1:$rg" }, http: { endpoint: "127.0.0.1:$rh" } } }
exporters:
  otlp: { endpoint: 127.0.0.1:$down, tls: { insecure: true }, compression: none, timeout: 1s,
          retry_on_failure: { initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0 }, $QUEUE }
service:
  telemetry: { metrics: { address: "127.0.0.1:$m" } }
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp] }
YAML
  vg_start b "$T/b.yaml"
  pid=$VG_PID_b
  peak=0
  ( while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid"; sleep 0.1; done ) > "$T/rss.txt" &
  sampler=$!
  node "$NODE_DIR/otlp_client.js" --http "http://127.0.0.1:$rh/v1/traces" --file "$T/big.jsonl" --count 150 --concurrency 4 > "$T/http_codes.json"
  node "$NODE_DIR/otlp_client.js" --grpc "127.0.0.1:$rg" --file "$T/big.jsonl" --count 150 --concurrency 4 > "$T/grpc_codes.json"
  cat "$T/http_codes.json" "$T/grpc_codes.json"
  python3 - "$T/http_codes.json" "$T/grpc_codes.json" <<'PY' || fail "clients were not told to retry"
import json, sys
h = json.load(open(sys.argv[1]))["http"]; g = json.load(open(sys.argv[2]))["grpc"]
assert h.get("503+retry-after", 0) > 50, h
assert g.get("UNAVAILABLE", 0) > 50, g
assert sum(v for k, v in h.items() if k not in ("200", "503+retry-after")) == 0, h
assert sum(v for k, v in g.items() if k not in ("OK", "UNAVAILABLE")) == 0, g
PY
  accepted=$(metric "$m" vigil_receiver_accepted_spans)
  efail=$(metric "$m" vigil_exporter_enqueue_failed_spans)
  qbytes=$(metric "$m" vigil_exporter_otlp_queue_bytes)
  [ "$efail" -gt 0 ] || fail "the exporter never refused"
  [ "$qbytes" -le $((4 * 1048576 + 200000)) ] || fail "queue holds $qbytes bytes, over max_bytes"
  ok "server down: clients got UNAVAILABLE / 503 + Retry-After once the queue was full ($accepted spans accepted, $efail refused; queue $qbytes bytes)"
else
  echo "back-pressure checked through otlpjsonfile (the otlp receiver is not built): offset stays, enqueue_failed grows"
  cat > "$T/b.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/bigin/*.jsonl"], start_at: beginning, poll_interval: 50ms }
exporters:
  otlp: { endpoint: 127.0.0.1:$down, tls: { insecure: true }, compression: none, timeout: 1s,
          retry_on_failure: { initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0 }, $QUEUE }
service:
  telemetry: { metrics: { address: "127.0.0.1:$m" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [otlp] }
YAML
  mkdir -p "$T/bigin"; for i in 1 2 3 4 5 6 7; do cp "$T/big.jsonl" "$T/bigin/b$i.jsonl"; done
  vg_start b "$T/b.yaml"
  pid=$VG_PID_b
  ( while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid"; sleep 0.1; done ) > "$T/rss.txt" &
  sampler=$!
  wait_metric 20 "$m" vigil_exporter_enqueue_failed_spans 1 || fail "the exporter never refused"
  sleep 3
  accepted=$(metric "$m" vigil_exporter_sent_spans) # 0 while down
  r1=$(metric "$m" vigil_receiver_refused_spans); sleep 1; r2=$(metric "$m" vigil_receiver_refused_spans)
  [ "$r2" -gt "$r1" ] || fail "otlpjsonfile is not being refused"
  [ "$accepted" = 0 ] || fail "spans sent while the server is down"
  accepted=$(metric "$m" vigil_receiver_accepted_spans)
  ok "server down: otlpjsonfile refused (offset kept), enqueue_failed $(metric "$m" vigil_exporter_enqueue_failed_spans)"
fi
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$T/rss.txt" | tail -1)
ceiling=$((48 * 1024))
if grep -aq __asan_init "$VIGIL_BIN"; then
  ceiling=$((768 * 1024)) # AddressSanitizer's quarantine and shadow memory; the real bound is checked in the normal build
  echo "sanitizer build: RSS ceiling raised to $((ceiling / 1024)) MB"
fi
[ "${peak:-0}" -gt 0 ] && [ "$peak" -lt "$ceiling" ] || fail "peak RSS during the outage ${peak} kB, ceiling $ceiling kB"
ok "RSS during the outage peaked at $((peak / 1024)) MB (ceiling $((ceiling / 1024)) MB; queue max_bytes 4 MiB)"
# The server comes back: the queue drains, everything accepted arrives.
hb=$(free_port)
srv_start back --grpc-port "$down" --http-port "$hb" --out "$T/back.out"
wait_metric 60 "$m" vigil_exporter_sent_spans "$accepted" || fail "the queue did not drain after the server came back"
wait_until 20 bash -c "[ \$(curl -fsS http://127.0.0.1:$m/metrics | awk '/^vigil_exporter_queue_size/ {print \$2}') = 0 ]" || fail "queue not empty"
got=$(srv_stat "$hb" "s['items']")
[ "$got" -ge "$accepted" ] || fail "server got $got spans, $accepted were accepted"
vg_stop b
ok "server back: the $accepted accepted spans arrived ($got received)"
passed=$((passed + 3))

# ---- C. permanent errors are not retried -----------------------------------------
gp=$(free_port); hp=$(free_port); hp2=$(free_port); m=$(free_port)
srv_start perm_grpc --grpc-port "$gp" --http-port "$hp2" --out "$T/perm.out" --permanent
srv_start perm_http --http-port "$hp" --out "$T/perm_http.out" --permanent
mkdir -p "$T/pin"; head -n 5 "$T/in/gen.jsonl" > "$T/pin/p.jsonl"
cat > "$T/c.yaml" <<YAML
receivers:
  otlpjsonfile: { include: ["$T/pin/*.jsonl"], start_at: beginning, poll_interval: 20ms }
exporters:
  otlp: { endpoint: 127.0.0.1:$gp, tls: { insecure: true }, $RETRY }
  otlphttp: { endpoint: "http://127.0.0.1:$hp", $RETRY }
service:
  telemetry: { metrics: { address: "127.0.0.1:$m" } }
  pipelines:
    traces: { receivers: [otlpjsonfile], exporters: [otlp, otlphttp] }
YAML
vg_start c "$T/c.yaml"
wait_metric 20 "$m" vigil_exporter_send_failed_spans 50 'exporter="otlp"' || fail "otlp: permanent failures not counted"
wait_metric 20 "$m" vigil_exporter_send_failed_spans 50 'exporter="otlphttp"' || fail "otlphttp: permanent failures not counted"
sleep 0.5
retries=$(( $(metric "$m" vigil_exporter_otlp_retries) + $(metric "$m" vigil_exporter_otlphttp_retries) ))
vg_stop c
ag=$(srv_stat "$hp2" "s['grpc']['attempts']"); ah=$(srv_stat "$hp" "s['http']['attempts']")
[ "$ag" = 5 ] && [ "$ah" = 5 ] || fail "permanent errors: $ag gRPC / $ah HTTP attempts for 5 requests"
[ "$retries" = 0 ] || fail "permanent errors were retried ($retries)"
grep -q 'INVALID_ARGUMENT' "$T/c.log" && grep -q 'HTTP status 400' "$T/c.log" || fail "permanent errors not logged"
ok "INVALID_ARGUMENT / 400: one attempt per request (gRPC $ag, HTTP $ah), 50+50 spans counted send_failed, logged, no retry"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
