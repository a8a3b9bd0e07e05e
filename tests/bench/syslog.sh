#!/usr/bin/env bash
# syslog receiver throughput. RFC 5424 lines of ~200 bytes (tests/bench/syslog_send.c,
# pre-built buffers written as fast as the socket takes them):
#   tcp      one TCP connection, newline framing, syslog -> nop
#   tcp+batch the same through the batch processor (send_batch_size 8192)
#   udp      one message per datagram (sendmmsg), flat out and paced
# vigil is pinned to core 0 (taskset -c 0), the sender to core 1.
# Prints messages/s, CPU seconds per million messages, peak RSS (VmHWM), and for
# UDP what arrived and what the kernel dropped (SO_MEMINFO, counted by vigil).
# Usage: tests/bench/syslog.sh [TCP_MESSAGES] [VIGIL_BIN]   (default 10,000,000; build/vigil)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-10000000}
bin=${2:-$here/build/vigil}
udp_n=${UDP_MESSAGES:-2000000}
[ -x "$bin" ] || { echo "no vigil binary at $bin (make build)" >&2; exit 1; }
T=$(mktemp -d /tmp/vigil-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$T"' EXIT
${CC:-cc} -O2 -Wall -Wextra -Werror -o "$T/send" "$here/tests/bench/syslog_send.c"
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() {
  curl -fsS "http://127.0.0.1:$mport/metrics" 2>/dev/null | awk -v n="$1" 'index($1, n) == 1 {s+=$2} END {printf "%d", s}'
}
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
tck=$(getconf CLK_TCK)

start_vigil() { # $1 = processors line
  port=$(free); mport=$(free)
  cat > "$T/c.yaml" <<YAML
receivers:
  syslog:
    protocol: rfc5424
    tcp: { listen_address: "127.0.0.1:$port" }
    udp: { listen_address: "127.0.0.1:$port", receive_buffer_size: 8MiB }
processors: { batch: { send_batch_size: 8192, timeout: 200ms } }
exporters: { nop: {} }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" }, logs: { level: warn } }
  pipelines: { logs: { receivers: [syslog], $1 exporters: [nop] } }
YAML
  taskset -c 0 "$bin" --config "$T/c.yaml" 2>"$T/log" & pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$mport/metrics" >/dev/null 2>&1 && break; sleep 0.05; done
}
stop_vigil() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

tcp_run() { # $1 label, $2 processors line
  start_vigil "$2"
  c0=$(cpu_of "$pid"); t0=$(date +%s.%N)
  taskset -c 1 "$T/send" tcp 127.0.0.1 "$port" "$n" >"$T/send.out"
  while [ "$(metric vigil_exporter_sent_log_records)" -lt "$n" ]; do sleep 0.01; done
  t1=$(date +%s.%N); c1=$(cpu_of "$pid")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  stop_vigil
  python3 - "$1" "$n" "$t0" "$t1" "$(( c1 - c0 ))" "$tck" "$hwm" <<'PY'
import sys
label, n, t0, t1, ticks, tck, hwm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
wall, cpu = t1 - t0, ticks / tck
print(f"{label:10s} messages: {n:,}  wall: {wall:.2f} s  messages/s: {n / wall:,.0f}  cpu: {cpu:.2f} s "
      f"({cpu / wall * 100:.0f}% of a core)  cpu s per million: {cpu / n * 1e6:.3f}  peak RSS: {hwm / 1024:.1f} MiB")
PY
}

udp_run() { # $1 label, $2 rate (0 = flat out)
  start_vigil ""
  c0=$(cpu_of "$pid")
  out=$(taskset -c 1 "$T/send" udp 127.0.0.1 "$port" "$udp_n" "$2")
  sleep 1
  c1=$(cpu_of "$pid")
  got=$(metric vigil_exporter_sent_log_records)
  kdrop=$(metric 'vigil_receiver_syslog_dropped_total{receiver="syslog",reason="kernel"}')
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  stop_vigil
  python3 - "$1" "$udp_n" "$out" "$got" "$kdrop" "$(( c1 - c0 ))" "$tck" "$hwm" <<'PY'
import sys
label, n, out, got, kdrop, ticks, tck, hwm = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
kv = dict(x.split("=") for x in out.split())
secs = float(kv["seconds"])
cpu = ticks / tck
print(f"{label:10s} sent: {n:,} in {secs:.2f} s ({n / secs:,.0f}/s)  received: {got:,} ({got / n * 100:.1f}%)  "
      f"kernel drops counted: {kdrop:,}  unaccounted: {n - got - kdrop:,}  cpu s per million received: "
      f"{cpu / max(got, 1) * 1e6:.3f}  peak RSS: {hwm / 1024:.1f} MiB")
PY
}

tcp_run tcp ""
tcp_run tcp+batch "processors: [batch],"
udp_run "udp" 0
udp_run "udp@200k" 200000
