#!/usr/bin/env bash
# Core pipeline throughput: OTLP/JSON lines (100 spans each) replayed by
# otlpjsonfile -> batch -> nop. Measures the collector's own path: JSON decode,
# batching (zero-copy merge and split), fan-out, self-telemetry.
# Usage: tests/bench/pipeline.sh [LINES] [VIGIL_BIN]   (default 5000 lines = 500,000 spans)
# Prints spans/s, CPU seconds per million spans and peak RSS.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
lines=${1:-5000}
bin=${2:-$here/build/vigil}
T=$(mktemp -d /tmp/vigil-bench.XXXXXX); trap 'kill $pid 2>/dev/null || true; rm -rf "$T"' EXIT
python3 - "$lines" > "$T/in.jsonl" <<'PY'
import json, sys, random
lines = int(sys.argv[1]); random.seed(7)
for l in range(lines):
    spans = []
    for i in range(100):
        tid = "%032x" % random.getrandbits(128)
        spans.append({"traceId": tid, "spanId": "%016x" % random.getrandbits(64), "name": "GET /api/v1/items",
                      "kind": 2, "startTimeUnixNano": str(1700000000000000000 + i * 1000),
                      "endTimeUnixNano": str(1700000000000500000 + i * 1000),
                      "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}},
                                     {"key": "http.status_code", "value": {"intValue": "200"}},
                                     {"key": "net.peer.ip", "value": {"stringValue": "10.1.2.%d" % (i % 250)}}],
                      "status": {"code": 1}})
    print(json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc-%d" % (l % 10)}}]},
        "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}, separators=(",", ":")))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/c.yaml" <<YAML
receivers: { otlpjsonfile: { include: ["$T/in.jsonl"], start_at: beginning, poll_interval: 10ms } }
processors: { batch: { send_batch_size: 8192, timeout: 200ms } }
exporters: { nop: {} }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" }, logs: { level: warn } }
  pipelines: { traces: { receivers: [otlpjsonfile], processors: [batch], exporters: [nop] } }
YAML
want=$((lines * 100))
start=$(date +%s.%N)
${VG_WRAP:-} taskset -c 0 "$bin" --config "$T/c.yaml" 2>"$T/log" & pid=$!
sent=0
while [ "$sent" -lt "$want" ]; do
  sleep 0.05
  sent=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '$1 ~ /^vigil_exporter_sent_spans/ {s+=$2} END {printf "%d", s}') || sent=0
done
end=$(date +%s.%N)
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
python3 - "$want" "$start" "$end" "$cpu" "$hwm" <<'PY'
import sys
n, t0, t1, cpu, hwm = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
wall = t1 - t0
print(f"spans: {n}  wall: {wall:.2f} s  spans/s: {n / wall:,.0f}  cpu: {cpu:.2f} s  "
      f"cpu s per million spans: {cpu / n * 1e6:.2f}  peak RSS: {hwm / 1024:.1f} MiB")
PY
