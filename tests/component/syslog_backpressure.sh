# syslog receiver back-pressure, end to end: a TCP sender is throttled while
# the exporter is blocked, memory stays bounded, and once the exporter
# recovers every message arrives exactly once.
#
# The block is real: the otlphttp exporter sends to an OTLP/HTTP endpoint
# (syslog_sink.py) that answers 503 while a file exists. The exporter keeps
# retrying its requests; its sending queue (4 requests) fills and refuses;
# the batch processor then holds its refused batch and refuses too; the
# syslog receiver keeps the refused frames and stops reading the socket, so
# the kernel buffers fill and the sender's writes stall (syslog_flood.py,
# non-blocking socket with a 16 KiB SO_SNDBUF, reports when no byte moved
# for 2 s). While stalled, Vigil's VmRSS is sampled. Then the file goes
# away, and the sink must count every sequence number once.
. "$VIGIL_SRC/tests/lib.sh"
N=${SYSLOG_BP_COUNT:-100000}
port=$(free_port); sport=$(free_port); mport=$(free_port)
touch "$T/block"
python3 "$VIGIL_SRC/tests/component/syslog_sink.py" "$sport" "$T/block" >"$T/sink.log" 2>&1 &
VG_PIDS+=($!)
wait_until 10 curl -fsS "http://127.0.0.1:$sport/stats" -o /dev/null || fail "sink did not start"
cat > "$T/c.yaml" <<YAML
receivers:
  syslog: { protocol: rfc5424, tcp: { listen_address: "127.0.0.1:$port" } }
processors:
  batch: { send_batch_size: 1000, timeout: 50ms }
exporters:
  otlphttp:
    endpoint: "http://127.0.0.1:$sport"
    encoding: json
    compression: none
    timeout: 10s
    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0s }
    sending_queue: { num_consumers: 2, queue_size: 4, sizer: requests }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [syslog], processors: [batch], exporters: [otlphttp] }
YAML
if grep -q __asan_init "$VIGIL_BIN" 2>/dev/null; then
  # ASan's quarantine keeps freed memory (256 MiB by default), so RSS climbs
  # with every retry; a small one keeps the samples about Vigil's own memory.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4"
  # The otlphttp exporter leaks its state at exit (exporters/otlp, seen with a
  # single message too; reported). Leak checks of the syslog receiver run in
  # test_syslog_receiver and the other syslog_* tests. Remove once fixed.
  echo "NOTE: LeakSanitizer off for this test (known leak in exporters/otlp at exit)"
  export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
fi
vg_start vg "$T/c.yaml"
vpid=$VG_PID_vg
rss() { awk '/^VmRSS/ {print $2}' "/proc/$vpid/status"; }
rss0=$(rss)

python3 "$VIGIL_SRC/tests/component/syslog_flood.py" "$port" "$N" "$T/status" 2 >"$T/flood.log" 2>&1 &
flood=$!
VG_PIDS+=($flood)
wait_until 120 grep -qs STALLED "$T/status" || fail "the sender was never throttled (status: $(cat "$T/status" 2>/dev/null))"
stalled_at=$(sed -n 's/^STALLED sent=//p' "$T/status" | head -1)
[ "$stalled_at" -lt "$N" ] || fail "stalled only at the end"
ok "sender throttled after $stalled_at of $N lines (no byte written for 2 s)"

# While blocked: still stalled, the receiver is not reading, memory flat.
samples=()
for _ in $(seq 8); do samples+=("$(rss)"); sleep 0.4; done
grep -q RESUMED "$T/status" && fail "the sender resumed while the exporter was still blocked"
blocked=$(metric "$mport" vigil_receiver_syslog_blocked_connections)
[ "$blocked" = 1 ] || fail "blocked connections: $blocked"
refused=$(metric "$mport" vigil_receiver_refused_log_records)
[ "$refused" -gt 0 ] || fail "nothing refused"
got=$(curl -fsS "http://127.0.0.1:$sport/stats")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["records"] == 0 and d["blocked_answers"] > 0, d' "$got" \
  || fail "the sink took data while blocked: $got"
read -r lo hi < <(printf '%s\n' "${samples[@]}" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END{print lo, hi}')
echo "VmRSS KiB: start $rss0, while blocked ${samples[*]}"
[ "$hi" -lt $((rss0 + 64 * 1024)) ] || fail "RSS grew to $hi KiB while blocked (start $rss0 KiB)"
[ $((hi - lo)) -lt 8192 ] || fail "RSS kept growing while blocked: $lo..$hi KiB"
ok "while blocked: receiver paused ($refused records refused and kept), sink got nothing, VmRSS flat at $lo..$hi KiB"

# Recovery.
rm -f "$T/block"
wait_until 180 grep -qs DONE "$T/status" || fail "the sender did not finish (status: $(cat "$T/status"))"
grep -q RESUMED "$T/status" || fail "no RESUMED after STALLED"
check() {
  curl -fsS "http://127.0.0.1:$sport/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin); n = int(sys.argv[1])
sys.exit(0 if d["unique"] == n else 1)' "$N"
}
wait_until 120 check || fail "not every message arrived: $(curl -fsS "http://127.0.0.1:$sport/stats")"
got=$(curl -fsS "http://127.0.0.1:$sport/stats")
python3 -c '
import json, sys
d = json.loads(sys.argv[1]); n = int(sys.argv[2])
assert d["unique"] == n and d["max"] == n - 1 and d["dups"] == 0 and d["records"] == n, d' "$got" "$N" \
  || fail "counts differ: $got"
acc=$(metric "$mport" vigil_receiver_accepted_log_records)
[ "$acc" = "$N" ] || fail "receiver accepted $acc, want $N"
ok "after the block: all $N messages arrived exactly once ($got)"
vg_stop vg
echo "3 passed, 0 failed"
