# Disk full, for real (a small tmpfs): the file exporter's failed write is a
# retryable error, the batch processor holds the batch and refuses new data, the
# otlpjsonfile receiver keeps its offset. When space comes back everything
# arrives exactly once, in whole lines. Then the same block during SIGTERM: the
# health check says 503 while the drain waits, and the drain completes once
# space is back.
. "$VIGIL_SRC/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$T/in" "$T/full"
mount -t tmpfs -o size=64k tmpfs "$T/full" || skip "cannot mount tmpfs here"
cleanup_mount() { umount -l "$T/full" 2>/dev/null || true; vg_cleanup; }
trap cleanup_mount EXIT
fill() { dd if=/dev/zero of="$T/full/filler" bs=1k count=200 2>/dev/null || true; }
unfill() { rm -f "$T/full/filler"; }
mp=$(free_port); hp=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers: { otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms } }
processors: { batch: { timeout: 20ms } }
exporters: { file: { path: "$T/full/out.json" } }
extensions: { health_check: { endpoint: "127.0.0.1:$hp" } }
service:
  extensions: [health_check]
  drain_timeout: 30s
  telemetry: { metrics: { address: "127.0.0.1:$mp" } }
  pipelines:
    logs: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    traces: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
    metrics: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] }
YAML
vg_start v "$T/c.yaml"
fill
cp "$VIGIL_SRC"/tests/data/otlp/*.jsonl "$T/in/"
wait_metric 10 "$mp" vigil_exporter_send_failed 1 || fail "writes did not fail on a full disk"
# More data while the exporter is blocked: the batch processor refuses it and
# the receiver keeps its place in these files.
for i in 1 2 3; do sed "s/\"checkout\"/\"copy-$i\"/g" "$VIGIL_SRC/tests/data/otlp/logs.jsonl" > "$T/in/more$i.jsonl"; done
cat "$T"/in/*.jsonl > "$T/all.in"
read -r s p l < <(items --count "$T/all.in")
wait_metric 10 "$mp" vigil_receiver_refused 1 || fail "the receiver was not pushed back"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/")" = 200 ] || fail "health not 200 while running"
ok "disk full: exporter failed, batch held, receiver pushed back"
unfill
wait_metric 20 "$mp" vigil_exporter_sent $((s + p + l)) || fail "data did not arrive after space came back"
items --compare "$T/all.in" "$T/full/out.json" || fail "lost, duplicated or broken data"
ok "space back: every item exactly once"

# Blocked again, then SIGTERM: the drain waits (health 503) until space returns.
fill
before=$(metric "$mp" vigil_processor_accepted_log_records)
failed=$(metric "$mp" vigil_exporter_send_failed_log_records)
sed 's/"checkout"/"during-drain"/g' "$VIGIL_SRC/tests/data/otlp/logs.jsonl" > "$T/in/drain.jsonl"
wait_metric 10 "$mp" vigil_processor_accepted_log_records $((before + 1)) || fail "new data not accepted"
wait_metric 10 "$mp" vigil_exporter_send_failed_log_records $((failed + 1)) || fail "no failed write"
kill -TERM "$VG_PID_v"
code=""
for i in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/" || true)
  [ "$code" = 503 ] && break; sleep 0.1
done
[ "$code" = 503 ] || fail "health was not 503 during the drain (got $code)"
kill -0 "$VG_PID_v" || fail "exited instead of draining"
ok "draining with a blocked exporter: health 503, still running"
unfill
rc=0; wait "$VG_PID_v" || rc=$?
[ "$rc" -eq 0 ] || fail "exit $rc after the drain"
grep -q during-drain "$T/full/out.json" || fail "accepted data lost in the drain"
ok "drain completed once space came back"
echo "1 passed, 0 failed"
