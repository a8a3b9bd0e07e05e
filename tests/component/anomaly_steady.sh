# anomaly connector on a steady workload: a test container (a cgroup named
# like a Kubernetes container, in the v1 controllers and the v2 unified tree)
# runs ~10% of a CPU in 2 ms slices with 32 MiB held, nothing else changing,
# for 60 s. The cgroupstats receiver scrapes it every second into the anomaly
# connector (the metric list of config/default.yaml, a warm-up of 8 points so
# that ~50 s are scored). Zero events may come out, while the connector shows
# it scored the container's series all along. The machine may be busy with
# other work meanwhile: that is part of the test. Cleanup by trap.
. "$VIGIL_SRC/tests/lib.sh"

"$VIGIL_BIN" components > "$T/components" || fail "vigil components failed"
grep -q '^receiver cgroupstats ' "$T/components" || skip "cgroupstats receiver not built yet"
[ "$(id -u)" = 0 ] || skip "anomaly_steady needs root to create cgroups (running as uid $(id -u))"
[ -d /sys/fs/cgroup ] || skip "no cgroup filesystem at /sys/fs/cgroup"
command -v python3 >/dev/null || skip "python3 is needed"

CGPY="$VIGIL_SRC/tests/component/anomaly_cgroup.py"
EVPY="$VIGIL_SRC/tests/component/anomaly_events.py"
BASE="vigil-steady-$$-$RANDOM"
all_cleanup() { python3 "$CGPY" cleanup "$BASE" || true; vg_cleanup; }
trap all_cleanup EXIT

POD_UID="3c9d1e2f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
CID=$(printf 'd4d4d4d4%08x%s' $$ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" | cut -c1-64)
REL="/$BASE/kubepods/besteffort/pod$POD_UID/$CID"
python3 "$CGPY" create "$REL" || fail "cannot create the cgroups"
START=$(date +%s)
python3 "$CGPY" exec "$REL" python3 "$CGPY" work steady "$T/unused" &
disown $!

METRICS='[container.cpu.usage, container.memory.working_set, container.pids.count, container.disk.io,
          container.memory.oom.kills, container.cpu.throttling_data.throttled_periods]'
port=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  cgroupstats:
    { root: /sys/fs/cgroup, collection_interval: 1s, initial_delay: 0s, start_jitter: 0s, include: ["/$BASE/*"] }
connectors:
  anomaly:
    warmup: 8
    metrics: { include: $METRICS }
exporters:
  file/events: { path: $T/events.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    metrics: { receivers: [cgroupstats], exporters: [anomaly] }
    logs/anomaly: { receivers: [anomaly], exporters: [file/events] }
YAML
vg_start c "$T/c.yaml"

# The workload runs 60 s in all; look at the output every few seconds.
while [ $(( $(date +%s) - START )) -lt 60 ]; do
  python3 "$EVPY" events "$T/events.json" --none >/dev/null || break
  sleep 2
done
python3 "$EVPY" events "$T/events.json" --none || fail "events for a steady workload"
series=$(metric_exact "$port" vigil_anomaly_series 'connector="anomaly"')
points=$(metric "$port" vigil_anomaly_points_total 'connector="anomaly"')
scrapes=$(metric "$port" vigil_receiver_cgroupstats_scrapes)
echo "after $(( $(date +%s) - START )) s: $scrapes scrapes, $series series, $points points scored, 0 events"
[ "$series" -ge 3 ] || fail "only $series series scored (cpu, memory, pids expected)"
[ "$points" -ge $(( 3 * 50 )) ] || fail "only $points points scored"
vg_stop c
grep -q 'level=error' "$T/c.log" && fail "errors in the log"
ok "(6) steady workload for 60 s: $points points scored, zero events"
echo "1 passed, 0 failed"
