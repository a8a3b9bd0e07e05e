# A drain that cannot finish (the disk stays full) ends at service.drain_timeout:
# the batch processor drops what it holds (logged, counted) and vigil exits.
. "$VIGIL_SRC/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$T/in" "$T/full"
mount -t tmpfs -o size=64k tmpfs "$T/full" || skip "cannot mount tmpfs here"
trap 'umount -l "$T/full" 2>/dev/null || true; vg_cleanup' EXIT
dd if=/dev/zero of="$T/full/filler" bs=1k count=200 2>/dev/null || true
mp=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers: { otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms } }
processors: { batch: { timeout: 20ms } }
exporters: { file: { path: "$T/full/out.json" } }
service:
  drain_timeout: 1s
  telemetry: { metrics: { address: "127.0.0.1:$mp" } }
  pipelines: { logs: { receivers: [otlpjsonfile], processors: [batch], exporters: [file] } }
YAML
vg_start v "$T/c.yaml"
cp "$VIGIL_SRC/tests/data/otlp/logs.jsonl" "$T/in/"
wait_metric 10 "$mp" vigil_exporter_send_failed 1 || fail "no failed write"
start=$(date +%s%N)
kill -TERM "$VG_PID_v"
rc=0
for i in $(seq 1 100); do kill -0 "$VG_PID_v" 2>/dev/null || break; sleep 0.1; done
kill -0 "$VG_PID_v" 2>/dev/null && fail "still running 10 s after SIGTERM with a 1 s drain deadline"
wait "$VG_PID_v" || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" -eq 0 ] || fail "exit $rc"
grep -q 'drain deadline passed: dropping' "$T/v.log" || fail "the loss was not logged"
grep -q 'AddressSanitizer\|LeakSanitizer' "$T/v.log" && fail "sanitizer report"
ok "exited ${ms} ms after SIGTERM, dropped data logged"
echo "1 passed, 0 failed"
