# anomaly connector on real cgroups: the cgroupstats receiver scrapes three
# test containers (cgroups named like Kubernetes containers,
# /<base>/kubepods/burstable/pod<uid>/<64 hex>, in the v1 controllers and the
# v2 unified tree) every second; metrics go into the anomaly connector, its
# events into a logs pipeline and a file. After a warm-up of idle containers
# (no event may appear):
#   (1) a CPU burner starts in the idle container A: an event naming A within 5 s;
#   (2) a process tree in container B forks as fast as it can, capped by
#       pids.max = 64: an event naming B about its task count;
#   (3) memory in container C climbs steadily (32 MiB/s): an event naming C
#       about its memory working set.
# The connector scores the same metric list as config/default.yaml. One run,
# under 60 s. Cgroups and their tasks are removed on every exit path (trap).
. "$VIGIL_SRC/tests/lib.sh"

"$VIGIL_BIN" components > "$T/components" || fail "vigil components failed"
grep -q '^receiver cgroupstats ' "$T/components" || skip "cgroupstats receiver not built yet"
[ "$(id -u)" = 0 ] || skip "anomaly_cgroups needs root to create cgroups (running as uid $(id -u))"
[ -d /sys/fs/cgroup ] || skip "no cgroup filesystem at /sys/fs/cgroup"
command -v python3 >/dev/null || skip "python3 is needed"

CGPY="$VIGIL_SRC/tests/component/anomaly_cgroup.py"
EVPY="$VIGIL_SRC/tests/component/anomaly_events.py"
BASE="vigil-anom-$$-$RANDOM"
all_cleanup() { python3 "$CGPY" cleanup "$BASE" || true; vg_cleanup; }
trap all_cleanup EXIT

python3 "$CGPY" hier > "$T/hier" || fail "no cgroup hierarchies"
[ -s "$T/hier" ] || skip "no usable cgroup hierarchy under /sys/fs/cgroup"
echo "hierarchies: $(tr '\n' ' ' < "$T/hier")"
V2ROOT=$(awk '$1 == "v2" && $2 != "/sys/fs/cgroup" { print $2 }' "$T/hier")

POD_UID="7d2e4c1a-3b5f-4e6d-9a8b-0c1d2e3f4a5b"
cid() { printf '%s%08x%s' "$1" $$ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" | cut -c1-64; }
CPU_ID=$(cid a1a1a1a1)
PIDS_ID=$(cid b2b2b2b2)
MEM_ID=$(cid c3c3c3c3)
rel() { echo "/$BASE/kubepods/burstable/pod$POD_UID/$1"; }

python3 "$CGPY" create "$(rel "$CPU_ID")" || fail "cannot create the cgroups"
python3 "$CGPY" create "$(rel "$PIDS_ID")" --pids-max 64 || fail "cannot create the cgroups"
python3 "$CGPY" create "$(rel "$MEM_ID")" || fail "cannot create the cgroups"
for m in cpu:$CPU_ID pids:$PIDS_ID mem:$MEM_ID; do
  python3 "$CGPY" exec "$(rel "${m#*:}")" python3 "$CGPY" work "${m%%:*}" "$T/go.${m%%:*}" &
  disown $!
done
sleep 0.5

# The metric list of config/default.yaml's anomaly connector.
METRICS='[container.cpu.usage, container.memory.working_set, container.pids.count, container.disk.io,
          container.memory.oom.kills, container.cpu.throttling_data.throttled_periods]'
port=$(free_port)
# The v1 view (v1 controllers, PSI from the unified tree) feeds anomaly/v1;
# on a hybrid host the unified tree alone (CPU only: its controllers are all
# in v1) feeds anomaly/v2, its resources marked host.name=unified-view.
{
  echo "receivers:"
  echo "  cgroupstats/v1: { root: /sys/fs/cgroup, collection_interval: 1s, initial_delay: 0s, start_jitter: 0s,"
  echo "                    include: [\"/$BASE/*\"] }"
  [ -n "$V2ROOT" ] && echo "  cgroupstats/v2: { root: $V2ROOT, collection_interval: 1s, initial_delay: 0s, start_jitter: 0s, include: [\"/$BASE/*\"] }"
  echo "processors:"
  echo "  resource/v2: { attributes: [{ key: host.name, value: unified-view, action: upsert }] }"
  echo "connectors:"
  for v in v1 v2; do
    echo "  anomaly/$v:"
    echo "    warmup: 8"
    echo "    metrics: { include: $METRICS }"
  done
  echo "exporters:"
  echo "  file/events: { path: $T/events.json }"
  echo "service:"
  echo "  telemetry: { metrics: { address: \"127.0.0.1:$port\" } }"
  echo "  pipelines:"
  echo "    metrics/v1: { receivers: [cgroupstats/v1], exporters: [anomaly/v1] }"
  if [ -n "$V2ROOT" ]; then
    echo "    metrics/v2: { receivers: [cgroupstats/v2], processors: [resource/v2], exporters: [anomaly/v2] }"
    echo "    logs/anomaly: { receivers: [anomaly/v1, anomaly/v2], exporters: [file/events] }"
  else
    echo "    logs/anomaly: { receivers: [anomaly/v1], exporters: [file/events] }"
  fi
} > "$T/c.yaml"
vg_start c "$T/c.yaml"

# Warm-up: 8 scored points per series (cpu.usage needs two scrapes for its first).
wait_metric 25 "$port" vigil_receiver_cgroupstats_scrapes 11 'cgroupstats/v1' || fail "too few scrapes"
wait_metric 5 "$port" vigil_anomaly_series 6 'connector="anomaly/v1"' || fail "the connector tracks too few series"
python3 "$EVPY" events "$T/events.json" --none || fail "events while every container was idle"
ok "idle containers during the warm-up: no event"

# (1) CPU burner in the idle container A.
GO=$(date +%s%N)
touch "$T/go.cpu"
wait_until 8 python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID" --attr anomaly.state=open \
  >/dev/null || fail "no event for the CPU burner in container ${CPU_ID:0:12}"
python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID"
first=$(python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID" --body "CPU usage" --first-ns)
[ -n "$first" ] || fail "no event about CPU usage for container ${CPU_ID:0:12}"
lat=$(( (first - GO) / 1000000 ))
echo "CPU event $lat ms after the burner started"
[ "$lat" -le 5000 ] || fail "the CPU event came $lat ms after the start (limit 5000)"
python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID" --res k8s.pod.uid="$POD_UID" \
  --attr event.name=vigil.anomaly --body "container ${CPU_ID:0:12} in pod $POD_UID: CPU usage" >/dev/null ||
  fail "the CPU event does not name the container and pod"
grep -q '"eventName":"vigil.anomaly"' "$T/events.json" || fail "LogRecord.event_name not set"
ok "(1) CPU burner: event naming container ${CPU_ID:0:12} after $lat ms"
if [ -n "$V2ROOT" ]; then
  wait_until 5 python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID" --res host.name=unified-view \
    --body "CPU usage" >/dev/null || fail "no CPU event from the v2 unified view"
  lat2=$(( ($(python3 "$EVPY" events "$T/events.json" --res container.id="$CPU_ID" --res host.name=unified-view \
    --first-ns) - GO) / 1000000 ))
  [ "$lat2" -le 5000 ] || fail "the v2 view's CPU event came $lat2 ms after the start"
  ok "(1) CPU burner, v2 unified view: event after $lat2 ms"
fi

# (2) The process tree in container B grows to its pids limit.
GO=$(date +%s%N)
touch "$T/go.pids"
wait_until 10 test -s "$T/go.pids.forked" || fail "the fork tree did not run"
echo "forked $(cat "$T/go.pids.forked") children before pids.max stopped it"
wait_until 8 python3 "$EVPY" events "$T/events.json" --res container.id="$PIDS_ID" \
  --attr anomaly.name=container.pids.count >/dev/null || {
  python3 "$EVPY" events "$T/events.json" --res container.id="$PIDS_ID"
  fail "no task-count event for container ${PIDS_ID:0:12}"
}
python3 "$EVPY" events "$T/events.json" --res container.id="$PIDS_ID"
ok "(2) pids growth: event naming container ${PIDS_ID:0:12} after $(( ($(python3 "$EVPY" events "$T/events.json" --res container.id="$PIDS_ID" --first-ns) - GO) / 1000000 )) ms"

# (3) Memory in container C climbs steadily.
GO=$(date +%s%N)
touch "$T/go.mem"
wait_until 10 python3 "$EVPY" events "$T/events.json" --res container.id="$MEM_ID" \
  --attr anomaly.name=container.memory.working_set >/dev/null || {
  python3 "$EVPY" events "$T/events.json" --res container.id="$MEM_ID"
  fail "no memory event for container ${MEM_ID:0:12}"
}
python3 "$EVPY" events "$T/events.json" --res container.id="$MEM_ID"
ok "(3) memory climb: event naming container ${MEM_ID:0:12} after $(( ($(python3 "$EVPY" events "$T/events.json" --res container.id="$MEM_ID" --first-ns) - GO) / 1000000 )) ms"

# No event storm: a handful of events per container, never more than 2 opens for one series.
n=$(python3 "$EVPY" events "$T/events.json" | wc -l)
echo "$n events in all"
[ "$n" -le 20 ] || fail "$n events: an event storm"
vg_stop c
grep -q 'level=error' "$T/c.log" && fail "errors in the log"
echo "$( [ -n "$V2ROOT" ] && echo 5 || echo 4) passed, 0 failed"
