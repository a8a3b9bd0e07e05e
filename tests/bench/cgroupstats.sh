#!/usr/bin/env bash
# Scrape cost of the cgroupstats receiver in the real binary: a generated
# cgroup v2 fixture of N containers (default 500; systemd driver, every file a
# kubelet-managed container has), vigil with cgroupstats → nop exporter at a
# fast interval, measured over a fixed number of scrapes after two warm-up
# scrapes. Prints CPU milliseconds per scrape of the whole process
# (/proc/<pid>/stat: walk, reads, OTLP building, the nop exporter, the
# self-telemetry polling), the scraping thread's own CPU per scrape
# (vigil_receiver_cgroupstats_scrape_cpu_seconds_total), points per scrape and
# peak RSS (VmHWM). Target: < 20 ms of CPU per scrape of 500 containers.
#   tests/bench/cgroupstats.sh [containers] [scrapes]
# VIGIL_BIN (default build/vigil), INTERVAL (default 100ms), TASKSET ("taskset -c 0").
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-500}
SCRAPES=${2:-100}
INTERVAL=${INTERVAL:-100ms}
VIGIL_BIN=${VIGIL_BIN:-$SRC/build/vigil}
[ -x "$VIGIL_BIN" ] || { echo "no vigil binary at $VIGIL_BIN (make build, or set VIGIL_BIN)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/vigil-cgsbench.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

python3 "$SRC/tests/bench/cgroupstats_gen.py" "$TMP/root" "$N"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$TMP/c.yaml" <<YAML
receivers:
  cgroupstats:
    root: $TMP/root
    collection_interval: $INTERVAL
    initial_delay: 0s
    start_jitter: 0s
exporters:
  nop:
service:
  telemetry: { metrics: { address: "127.0.0.1:$PORT" } }
  pipelines:
    metrics: { receivers: [cgroupstats], exporters: [nop] }
YAML

${TASKSET:-} "$VIGIL_BIN" --config "$TMP/c.yaml" 2>"$TMP/vigil.log" &
PID=$!
metric() { # NAME: value of the first series with that exact name
    curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
        awk -v n="$1" '!done && $1 !~ /^#/ && ($1 == n || index($1, n "{") == 1) { print $2; done = 1 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
wait_scrapes() { # MIN
    local i v
    for ((i = 0; i < 6000; i++)); do
        v=$(metric vigil_receiver_cgroupstats_scrapes || true)
        [ -n "$v" ] && [ "${v%.*}" -ge "$1" ] && { echo "${v%.*}"; return 0; }
        kill -0 "$PID" 2>/dev/null || { cat "$TMP/vigil.log" >&2; echo "vigil exited" >&2; exit 1; }
        sleep 0.5
    done
    echo "timed out waiting for $1 scrapes" >&2
    exit 1
}

s0=$(wait_scrapes 2)
c0=$(cpu_ticks)
t0=$(metric vigil_receiver_cgroupstats_scrape_cpu_seconds_total)
p0=$(metric vigil_receiver_accepted_metric_points)
s1=$(wait_scrapes $((s0 + SCRAPES)))
c1=$(cpu_ticks)
t1=$(metric vigil_receiver_cgroupstats_scrape_cpu_seconds_total)
p1=$(metric vigil_receiver_accepted_metric_points)
containers=$(metric vigil_receiver_cgroupstats_containers)
skipped=$(metric vigil_receiver_cgroupstats_scrapes_skipped)
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")
kill -TERM "$PID"
wait "$PID" || { echo "vigil exited with $? after SIGTERM" >&2; exit 1; }
PID=""

hz=$(getconf CLK_TCK)
awk -v n="$N" -v c="$containers" -v s="$((s1 - s0))" -v dc="$((c1 - c0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    -v p0="$p0" -v p1="$p1" -v hwm="$hwm" -v sk="$skipped" -v iv="$INTERVAL" 'BEGIN {
    printf "fixture: %d containers (cgroup v2, systemd driver); reported per scrape: %d; interval %s\n", n, c, iv
    printf "scrapes measured: %d (skipped ticks: %d)\n", s, sk
    printf "process_cpu_ms_per_scrape=%.2f  scrape_thread_cpu_ms_per_scrape=%.2f  points_per_scrape=%.0f  peak_rss_mib=%.1f\n",
        dc * 1000 / hz / s, (t1 - t0) * 1000 / s, (p1 - p0) / s, hwm / 1024
}'
