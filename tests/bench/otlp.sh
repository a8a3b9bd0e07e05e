#!/usr/bin/env bash
# OTLP end to end through one core: h2load sends pre-encoded requests of 100
# spans (or log records) to Vigil's otlp receiver (gRPC, or OTLP/HTTP protobuf
# over h2c); Vigil (pinned to core 0) batches them and exports them with the
# otlp exporter to a sink (a second Vigil: otlp receiver → nop, on core 1 with
# h2load). Success is read from the counters (receiver accepted, exporter sent,
# sink accepted), not from h2load's HTTP statuses.
# Usage: tests/bench/otlp.sh [REQUESTS] [VIGIL_BIN]   (default 20000 requests = 2,000,000 items)
# Env: COMPRESSION (exporter; default none), SCENARIOS (default "grpc http logs rate"),
#      MUTATE=1 (a resource processor upserts an attribute before batch: every request is
#      decoded and re-encoded, the cost of pipelines that change data, e.g. k8sattributes),
#      RATE (offered items/s, paced by h2load --rps over 4 connections; default 600000; 0 = as fast as
#      possible: overload is refused with UNAVAILABLE, mostly before checking — "shed").
# Prints the accepted rate, CPU seconds per million items (and so items per CPU-second: the one-core
# capacity), peak RSS (VmHWM) and the refusals.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20000}
bin=${2:-$here/build/vigil}
comp=${COMPRESSION:-none}
rate=${RATE:-600000}
pace=(); [ "$rate" -gt 0 ] && pace=(--rps $(( (rate + 399) / 400 )))
scenarios=${SCENARIOS:-grpc http logs rate}
procs="[batch]"; [ "${MUTATE:-0}" = 1 ] && procs="[resource, batch]"
command -v h2load >/dev/null || { echo "SKIPPED: h2load not installed (Debian nghttp2-client)"; exit 77; }
T=$(mktemp -d /tmp/vigil-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
python3 "$here/tests/bench/otlp_gen.py" traces 100 "$T/traces"
python3 "$here/tests/bench/otlp_gen.py" logs 100 "$T/logs"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" 'index($1, n) == 1 {s+=$2} END {printf "%d", s}'; }
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }

start_pair() { # sets SG SM VG VH VM and the pids
  SG=$(port); SM=$(port); VG=$(port); VH=$(port); VM=$(port)
  cat > "$T/sink.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "127.0.0.1:$SG", max_recv_msg_size_mib: 64 } } } }
exporters: { nop: {} }
service:
  telemetry: { metrics: { address: "127.0.0.1:$SM" }, logs: { level: warn } }
  pipelines:
    traces: { receivers: [otlp], exporters: [nop] }
    logs: { receivers: [otlp], exporters: [nop] }
YAML
  cat > "$T/vigil.yaml" <<YAML
receivers:
  otlp: { protocols: { grpc: { endpoint: "127.0.0.1:$VG" }, http: { endpoint: "127.0.0.1:$VH" } } }
processors:
  batch: { send_batch_size: 8192, timeout: 200ms }
  resource: { attributes: [ { key: deployment.environment, value: bench, action: upsert } ] }
exporters:
  otlp: { endpoint: "127.0.0.1:$SG", tls: { insecure: true }, compression: $comp }
service:
  telemetry: { metrics: { address: "127.0.0.1:$VM" }, logs: { level: warn } }
  pipelines:
    traces: { receivers: [otlp], processors: $procs, exporters: [otlp] }
    logs: { receivers: [otlp], processors: $procs, exporters: [otlp] }
YAML
  taskset -c 1 "$bin" --config "$T/sink.yaml" 2>"$T/sink.log" & SPID=$!; pids+=("$SPID")
  taskset -c 0 "$bin" --config "$T/vigil.yaml" 2>"$T/vigil.log" & VPID=$!; pids+=("$VPID")
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$VM/metrics" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$SM/metrics" >/dev/null 2>&1 && break; sleep 0.05; done
}
stop_pair() { kill -TERM "$VPID" "$SPID"; wait "$VPID" "$SPID" 2>/dev/null || true; }

# run NAME URL DATA CONTENT-TYPE ITEMS-NAME [h2load args...]
run() {
  local name=$1 url=$2 data=$3 ctype=$4 what=$5; shift 5
  start_pair
  local want=$((n * 100)) c0 s0 t0 t1 c1 s1 hwm got acc sink ref
  c0=$(cpu_of "$VPID"); s0=$(cpu_of "$SPID"); t0=$(date +%s.%N)
  taskset -c 1 h2load -n "$n" -c 4 -m 32 "${pace[@]}" -d "$data" -H "content-type: $ctype" -H 'te: trailers' \
    "http://127.0.0.1:$(eval echo "$url")" "$@" > "$T/h2load.txt" 2>&1 || true
  # Overload is answered with UNAVAILABLE / 503 (back-pressure, h2load does not
  # retry): the rate is what Vigil accepted and exported, until the last
  # accepted item left the exporter.
  acc=$(metric "$VM" "vigil_receiver_accepted_$what")
  for _ in $(seq 1200); do
    got=$(metric "$VM" "vigil_exporter_sent_$what")
    [ "$got" -ge "$acc" ] && break
    sleep 0.02
  done
  t1=$(date +%s.%N); c1=$(cpu_of "$VPID"); s1=$(cpu_of "$SPID")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$VPID/status")
  ref=$(metric "$VM" "vigil_receiver_refused_$what")
  sink=$(metric "$SM" "vigil_receiver_accepted_$what")
  stop_pair
  python3 - "$name" "$want" "$acc" "$got" "$sink" "$ref" "$t0" "$t1" "$c0" "$c1" "$hwm" "$s0" "$s1" <<'PY'
import sys
name, want, acc, got, sink, ref = sys.argv[1], *map(int, sys.argv[2:7])
t0, t1, c0, c1, hwm, s0, s1 = map(float, sys.argv[7:14])
wall, cpu = t1 - t0, c1 - c0
ok = "all counted" if got == acc and sink == acc and acc + ref == want else f"MISMATCH (sent {got}, sink {sink})"
print(f"{name:<32} {acc:>8} in {wall:5.2f} s = {acc / wall:>9,.0f} items/s  cpu {cpu:5.2f} s "
      f"({cpu / max(acc, 1) * 1e6:4.2f} s/M = {acc / max(cpu, 1e-9):>9,.0f} items per cpu-s; {cpu / wall * 100:3.0f}% of core 0)  "
      f"peak RSS {hwm / 1024:5.1f} MiB  refused {ref}  sink cpu {s1 - s0:4.2f} s  {ok}")
PY
  grep -E "^requests:|^status codes:" "$T/h2load.txt" | sed 's/^/    h2load /'
}

echo "vigil: $bin   exporter compression: $comp   requests: $n x 100 items   offered: ${rate/#0/max} items/s"
GRPC_T=opentelemetry.proto.collector.trace.v1.TraceService/Export
GRPC_L=opentelemetry.proto.collector.logs.v1.LogsService/Export
for s in $scenarios; do
  case $s in
  grpc) run "OTLP/gRPC traces" "\$VG/$GRPC_T" "$T/traces.grpc" application/grpc spans ;;
  http) run "OTLP/HTTP protobuf traces (h2c)" "\$VH/v1/traces" "$T/traces.pb" application/x-protobuf spans ;;
  logs) run "OTLP/gRPC logs" "\$VG/$GRPC_L" "$T/logs.grpc" application/grpc log_records ;;
  rate)
    # 10,000 spans/s: 100 requests/s of 100 spans for 30 s; RSS sampled throughout.
    start_pair
    ( while kill -0 "$VPID" 2>/dev/null; do awk '/^VmRSS/ {print $2}' "/proc/$VPID/status"; sleep 0.5; done ) > "$T/rss" 2>/dev/null &
    taskset -c 1 h2load -n 3000 -c 1 --rps 100 -d "$T/traces.grpc" -H 'content-type: application/grpc' \
      -H 'te: trailers' "http://127.0.0.1:$VG/$GRPC_T" > "$T/h2load.txt" 2>&1 || true
    sleep 1
    sent=$(metric "$VM" vigil_exporter_sent_spans); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$VPID/status")
    cpu=$(cpu_of "$VPID")
    stop_pair
    maxrss=$(sort -n "$T/rss" | tail -1)
    printf '%-34s %9d spans sent  max RSS %5.1f MiB  peak RSS (VmHWM) %5.1f MiB  cpu %.2f s over 30 s\n' \
      "10,000 spans/s for 30 s" "$sent" "$(echo "$maxrss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" "$cpu"
    ;;
  esac
done
