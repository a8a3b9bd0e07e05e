# Lifecycle: SIGTERM drains (nothing accepted is lost); SIGHUP with a bad config
# keeps the running graph; SIGHUP with a good config applies it.
. "$VIGIL_SRC/tests/lib.sh"
mkdir -p "$T/in"
port=$(free_port)
mkcfg() { # $1 = output file, $2 = batch timeout
  cat <<YAML
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
processors:
  batch: { timeout: $2, send_batch_size: 100000 }
exporters:
  file: { path: $1 }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  drain_timeout: 5s
  pipelines:
    traces: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    logs: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    metrics: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
YAML
}
# 1. SIGTERM while everything sits in the batch processor (timeout 1h).
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
cat "$T"/in/*.jsonl > "$T/all.in"
read -r s p l < <(items --count "$T/all.in")
mkcfg "$T/out1.json" 1h > "$T/a.yaml"
vg_start a "$T/a.yaml"
wait_metric 20 "$port" vigil_processor_accepted $((s + p + l)) || fail "not all accepted"
[ "$(metric "$port" vigil_exporter_sent)" -eq 0 ] || fail "batch should still hold the data"
vg_stop a
items --compare "$T/all.in" "$T/out1.json" || fail "SIGTERM lost data"
ok "SIGTERM drained every accepted item"

# 2. SIGHUP with a bad config: keeps running and serving.
mkcfg "$T/out2.json" 10ms > "$T/b.yaml"
vg_start b "$T/b.yaml"
wait_metric 20 "$port" vigil_exporter_sent $((s + p + l)) || fail "b did not export"
cp "$T/b.yaml" "$T/b.good"
printf 'receivers:\n  otlpjsonfile: { include: [x] }\nexporters:\n  fil:\n' > "$T/b.yaml"
kill -HUP "$VG_PID_b"
vg_wait_log b 'new configuration is invalid' 10 || fail "bad reload not reported"
grep -q "unknown exporter type 'fil' (did you mean 'file'?)" "$T/b.log" || fail "reload error not explained"
[ "$(metric "$port" vigil_service_reloads_failed)" -eq 1 ] || fail "failed reload not counted"
# still working: a new file is picked up by the old graph
sed 's/"checkout"/"after-bad-reload"/' "$VIGIL_SRC/tests/data/otlp/logs.jsonl" > "$T/in/more.jsonl"
wait_until 20 grep -q after-bad-reload "$T/out2.json" || fail "old graph stopped working after a bad reload"
ok "SIGHUP with a bad config kept the running graph"

# 3. SIGHUP with a good config (new output path): applied, and no accepted data lost.
sed "s#$T/out2.json#$T/out3.json#" "$T/b.good" > "$T/b.yaml"
kill -HUP "$VG_PID_b"
vg_wait_log b 'configuration reloaded' 10 || fail "good reload not applied"
[ "$(metric_exact "$port" vigil_service_reloads)" -eq 1 ] || fail "reload not counted"
sed 's/"checkout"/"after-good-reload"/' "$VIGIL_SRC/tests/data/otlp/logs.jsonl" > "$T/in/more2.jsonl"
wait_until 20 grep -q after-good-reload "$T/out3.json" || fail "new graph does not write to the new path"
ok "SIGHUP with a good config applied it"

# 4. SIGHUP with a valid config that cannot start (its health port is taken):
#    back to the previous configuration, still working.
busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" &
holder=$!
VG_PIDS+=("$holder")
sleep 0.3
cp "$T/b.yaml" "$T/b.prev"
{ sed "s#$T/out3.json#$T/out4.json#" "$T/b.prev"; printf 'extensions: { health_check: { endpoint: "127.0.0.1:%s" } }
' "$busy"; } \
  | sed 's/^service:$/service:\n  extensions: [health_check]/' > "$T/b.yaml"
"$VIGIL_BIN" validate --config "$T/b.yaml" > /dev/null || fail "rollback config should be valid"
kill -HUP "$VG_PID_b"
vg_wait_log b 'running the previous configuration again' 10 || fail "no rollback after a failed start"
[ "$(metric_exact "$port" vigil_service_reloads_failed)" -eq 2 ] || fail "failed start not counted"
sed 's/"checkout"/"after-rollback"/' "$VIGIL_SRC/tests/data/otlp/logs.jsonl" > "$T/in/more3.jsonl"
wait_until 20 grep -q after-rollback "$T/out3.json" || fail "previous graph not working after the rollback"
kill "$holder" 2>/dev/null || true
vg_stop b
ok "SIGHUP with a config that cannot start: rolled back"
echo "1 passed, 0 failed"
