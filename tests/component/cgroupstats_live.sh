# cgroupstats against real cgroups (needs root). Creates a cgroup named like a
# Kubernetes container (cgroupfs driver: /<base>/kubepods/burstable/pod<uid>/<id>)
# in every v1 controller the receiver reads and in the v2 tree (the unified
# tree of a hybrid host, or the root of a v2 host), moves a child process in
# that starts two more tasks, burns ~1 s of CPU and fills 64 MiB, and checks
# the file exporter's output: CPU time grows by about the burned time (in the
# v1 and in the v2 view), memory by about 64 MiB, pids.count is 3, and the
# resource names the container and its pod. Then the cgroup is removed while
# vigil runs: the container stops being reported and counts as vanished.
# The cgroups are removed on every exit path (trap).
. "$VIGIL_SRC/tests/lib.sh"

[ "$(id -u)" = 0 ] || skip "cgroupstats_live needs root to create cgroups (running as uid $(id -u))"
CG=/sys/fs/cgroup
[ -d "$CG" ] || skip "no cgroup filesystem at $CG"
command -v python3 >/dev/null || skip "python3 is needed to read the exporter output"

BASE="vigil-cgs-$$-$RANDOM"
POD_UID="5f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"
CID="c9b5c0de$(printf '%08x' $$)c9b5c0dec9b5c0dec9b5c0dec9b5c0dec9b5c0dec9b5c0de"
CID=${CID:0:64}
REL="/$BASE/kubepods/burstable/pod$POD_UID/$CID"

# The hierarchies: v1 controllers (co-mounted ones once) and the v2 tree.
HIER=()
V2=""
if [ -f "$CG/cgroup.controllers" ]; then
  V2="$CG"; HIER+=("$CG")
else
  declare -A seen=()
  for c in cpu cpuacct "cpu,cpuacct" memory pids blkio; do
    [ -f "$CG/$c/cgroup.procs" ] || continue
    r=$(realpath "$CG/$c")
    [ -n "${seen[$r]:-}" ] && continue
    seen[$r]=1; HIER+=("$r")
  done
  [ -f "$CG/unified/cgroup.controllers" ] && { V2="$CG/unified"; HIER+=("$V2"); }
fi
[ ${#HIER[@]} -gt 0 ] || skip "no usable cgroup hierarchy under $CG"

CHILD_PID=""
# Kills the tasks this test put in its cgroup (the child and its two sleeps), by pid.
kill_tasks() {
  local h pid
  for h in "${HIER[@]}"; do
    [ -f "$h$REL/cgroup.procs" ] || continue
    for pid in $(cat "$h$REL/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  if [ -n "$CHILD_PID" ]; then
    { kill -KILL "$CHILD_PID"; wait "$CHILD_PID"; } 2>/dev/null || true
    CHILD_PID=""
  fi
}
cg_cleanup() {
  local h l p i
  kill_tasks
  for h in "${HIER[@]}"; do
    # leaf first; memcg offlining can make rmdir briefly EBUSY right after the tasks exit
    for l in "$REL" "/$BASE/kubepods/burstable/pod$POD_UID" "/$BASE/kubepods/burstable" "/$BASE/kubepods" "/$BASE"; do
      p="$h$l"
      [ -d "$p" ] || continue
      for i in $(seq 1 50); do rmdir "$p" 2>/dev/null && break; sleep 0.05; done
      [ -d "$p" ] && echo "WARNING: could not remove $p" >&2
    done
  done
  return 0
}
all_cleanup() { cg_cleanup; vg_cleanup; }
trap all_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

for h in "${HIER[@]}"; do
  mkdir -p "$h$REL" || fail "cannot create $h$REL"
done
if [ "$V2" = "$CG" ]; then
  # a v2-only host: delegate the controllers down to the container's cgroup (best effort)
  p="$CG"
  for l in "/$BASE" "/$BASE/kubepods" "/$BASE/kubepods/burstable" "/$BASE/kubepods/burstable/pod$POD_UID"; do
    for c in cpu memory pids io; do echo "+$c" > "$p/cgroup.subtree_control" 2>/dev/null || true; done
    p="$CG$l"
    for c in cpu memory pids io; do echo "+$c" > "$p/cgroup.subtree_control" 2>/dev/null || true; done
  done
fi
echo "cgroups: ${HIER[*]} + $REL"

# The child: moves itself in, then execs python, which starts two sleeping
# tasks, waits for "go", burns CPU and fills 64 MiB, reports, and holds on.
mkfifo "$T/go"
cat > "$T/child.py" <<'PY'
import os, subprocess, sys, time
kids = [subprocess.Popen(["sleep", "1000"]) for _ in range(2)]
with open(sys.argv[2], "w") as f:
    f.write("ready\n")
with open(sys.argv[1]) as go:
    go.readline()
t0 = time.process_time()
x = 0
while time.process_time() - t0 < 1.0:
    for i in range(20000):
        x += i * i
burned = time.process_time() - t0
block = b"\x01" * (64 << 20)  # written, so every page is charged
with open(sys.argv[2], "a") as f:
    f.write("done %.6f %d\n" % (burned, len(block)))
time.sleep(1000)
PY
procs=""
for h in "${HIER[@]}"; do procs="$procs $h$REL/cgroup.procs"; done
sh -c 'for f in '"$procs"'; do echo $$ > "$f" || exit 9; done; exec python3 "$0" "$1" "$2"' \
  "$T/child.py" "$T/go" "$T/child.out" &
CHILD_PID=$!
wait_until 20 grep -qs ready "$T/child.out" || fail "child did not start"
for h in "${HIER[@]}"; do
  grep -qx "$CHILD_PID" "$h$REL/cgroup.procs" || fail "child $CHILD_PID is not in $h$REL"
done

port=$(free_port)
{
  echo "receivers:"
  echo "  cgroupstats/main:"
  echo "    { root: $CG, collection_interval: 1s, initial_delay: 0s, start_jitter: 0s, limits_refresh: 0s, include: [\"/$BASE/*\"] }"
  if [ -n "$V2" ] && [ "$V2" != "$CG" ]; then
    echo "  cgroupstats/v2:"
    echo "    { root: $V2, collection_interval: 1s, initial_delay: 0s, start_jitter: 0s, include: [\"/$BASE/*\"] }"
  fi
  echo "exporters:"
  echo "  file/main: { path: $T/main.json, flush_interval: 100ms }"
  echo "  file/v2: { path: $T/v2.json, flush_interval: 100ms }"
  echo "service:"
  echo "  telemetry: { metrics: { address: \"127.0.0.1:$port\" } }"
  echo "  pipelines:"
  echo "    metrics/main: { receivers: [cgroupstats/main], exporters: [file/main] }"
  if [ -n "$V2" ] && [ "$V2" != "$CG" ]; then
    echo "    metrics/v2: { receivers: [cgroupstats/v2], exporters: [file/v2] }"
  fi
} > "$T/c.yaml"
vg_start c "$T/c.yaml"

# Two scrapes before the work starts (a baseline and a rate).
wait_metric 20 "$port" vigil_receiver_cgroupstats_scrapes 2 'cgroupstats/main' || fail "no scrapes"
sleep 1.2
GO_NS=$(date +%s%N)
echo go > "$T/go"
wait_until 30 grep -qs done "$T/child.out" || fail "child did not finish its work"
DONE_NS=$(date +%s%N)
read -r _ BURNED BYTES < <(grep done "$T/child.out")
echo "child burned ${BURNED}s of CPU and filled $BYTES bytes"
# Two more scrapes after the work.
sleep 2.5
wait_until 10 test -s "$T/main.json" || fail "no output"

check() { # FILE VIEW
  python3 - "$1" "$2" "$REL" "$CID" "$POD_UID" "$GO_NS" "$DONE_NS" "$BURNED" "$BYTES" <<'PY'
import json, sys
path, view, rel, cid, uid = sys.argv[1:6]
go_ns, done_ns, burned, nbytes = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

def attrs(kvs):
    out = {}
    for kv in kvs or []:
        v = kv.get("value", {})
        out[kv["key"]] = v.get("stringValue", v.get("intValue", v.get("doubleValue")))
    return out

def num(p):
    return float(p["asDouble"]) if "asDouble" in p else int(p.get("asInt", 0))

# scrapes[t] = {metric: [(attrs, value, start)]}, and the resource seen
scrapes, resources = {}, []
for line in open(path):
    if not line.strip():
        continue
    for rm in json.loads(line).get("resourceMetrics", []):
        ra = attrs(rm.get("resource", {}).get("attributes"))
        if ra.get("cgroup.path") != rel:
            continue
        resources.append(ra)
        for sm in rm.get("scopeMetrics", []):
            for m in sm.get("metrics", []):
                data = m.get("sum") or m.get("gauge") or {}
                for p in data.get("dataPoints", []):
                    t = int(p["timeUnixNano"])
                    scrapes.setdefault(t, {}).setdefault(m["name"], []).append(
                        (attrs(p.get("attributes")), num(p), int(p.get("startTimeUnixNano", 0) or 0), m.get("unit")))
times = sorted(scrapes)
print("%s: %d scrapes of the container" % (view, len(times)))
if len(times) < 4:
    print("FAIL: too few scrapes"); sys.exit(1)

ra = resources[-1]
check(ra.get("container.id") == cid, "container.id %r" % ra.get("container.id"))
check(ra.get("k8s.pod.uid") == uid, "k8s.pod.uid %r" % ra.get("k8s.pod.uid"))
check(ra.get("k8s.pod.qos_class") == "Burstable", "k8s.pod.qos_class %r" % ra.get("k8s.pod.qos_class"))
check(bool(ra.get("host.name")), "no host.name")

def total(t, name):
    pts = scrapes[t].get(name)
    return sum(v for _, v, _, _ in pts) if pts else None

before = [t for t in times if t < go_ns]
after = [t for t in times if t > done_ns]
check(before and after, "no scrape before the work or after it")
if before and after:
    t0, t1 = before[-1], after[-1]
    cpu0, cpu1 = total(t0, "container.cpu.time"), total(t1, "container.cpu.time")
    check(cpu0 is not None and cpu1 is not None, "container.cpu.time missing")
    if cpu0 is not None and cpu1 is not None:
        d = cpu1 - cpu0
        print("%s: container.cpu.time grew by %.3f s (child burned %.3f s)" % (view, d, burned))
        check(burned * 0.9 - 0.05 <= d <= burned + 0.4, "CPU time grew by %.3f s, burned %.3f s" % (d, burned))
        modes = sorted(a.get("cpu.mode", "") for a, _, _, _ in scrapes[t1]["container.cpu.time"])
        check(modes == ["system", "user"], "cpu.mode values %r" % modes)
        starts = {s for t in times for _, _, s, _ in scrapes[t]["container.cpu.time"]}
        check(len(starts) == 1 and min(starts) > 0, "cpu.time start times %r (must survive across scrapes)" % starts)
        check(scrapes[t1]["container.cpu.time"][0][3] == "s", "container.cpu.time unit")
    # the busiest usage sample: about one CPU while burning
    usage = [total(t, "container.cpu.usage") for t in times if total(t, "container.cpu.usage") is not None]
    check(usage and max(usage) > 0.3, "container.cpu.usage never showed the burn: %r" % usage)
    if view == "main":
        m0, m1 = total(t0, "container.memory.usage"), total(t1, "container.memory.usage")
        check(m0 is not None and m1 is not None, "container.memory.usage missing")
        if m0 is not None and m1 is not None:
            d = m1 - m0
            print("%s: container.memory.usage grew by %.1f MiB (filled %.1f MiB)" % (view, d / 2**20, nbytes / 2**20))
            check(nbytes * 0.9 <= d <= nbytes + 24 * 2**20, "memory grew by %d bytes, filled %d" % (d, nbytes))
        r0, r1 = total(t0, "container.memory.rss"), total(t1, "container.memory.rss")
        if r0 is not None and r1 is not None:
            print("%s: container.memory.rss grew by %.1f MiB" % (view, (r1 - r0) / 2**20))
            check(nbytes * 0.9 <= r1 - r0 <= nbytes + 24 * 2**20, "rss grew by %d bytes" % (r1 - r0))
        pids = total(t1, "container.pids.count")
        print("%s: container.pids.count %r" % (view, pids))
        check(pids == 3, "pids.count %r, expected 3 (python and two sleeps)" % pids)
        ws = total(t1, "container.memory.working_set")
        check(ws is not None and ws >= nbytes * 0.9, "working set %r" % ws)
if errors:
    for e in errors:
        print("FAIL: %s: %s" % (view, e))
    sys.exit(1)
print("%s: ok" % view)
PY
}
check "$T/main.json" main || fail "metrics of the v1/hybrid view are wrong"
ok "CPU time, memory, pids and identity in the $( [ "$V2" = "$CG" ] && echo v2 || echo v1/hybrid ) view"
if [ -n "$V2" ] && [ "$V2" != "$CG" ]; then
  check "$T/v2.json" v2 || fail "metrics of the v2 (unified) view are wrong"
  ok "CPU time and identity in the v2 unified view"
fi

# The container goes away while vigil runs: no longer reported, state freed.
kill_tasks
cg_cleanup
for h in "${HIER[@]}"; do [ -d "$h$REL" ] && fail "could not remove $h$REL"; done
GONE_NS=$(date +%s%N)
wait_metric 10 "$port" vigil_receiver_cgroupstats_containers_vanished 1 'cgroupstats/main' ||
  fail "the removed container was not counted as vanished"
sleep 1.5
python3 - "$T/main.json" "$REL" "$GONE_NS" <<'PY' || fail "the removed container is still reported"
import json, sys
path, rel, gone = sys.argv[1], sys.argv[2], int(sys.argv[3])
late = 0
for line in open(path):
    for rm in json.loads(line).get("resourceMetrics", []) if line.strip() else []:
        kv = {a["key"]: a["value"].get("stringValue") for a in rm.get("resource", {}).get("attributes", [])}
        if kv.get("cgroup.path") != rel:
            continue
        for sm in rm.get("scopeMetrics", []):
            for m in sm.get("metrics", []):
                for p in (m.get("sum") or m.get("gauge") or {}).get("dataPoints", []):
                    if int(p["timeUnixNano"]) > gone + 200_000_000:
                        late += 1
sys.exit(1 if late else 0)
PY
[ "$(metric_exact "$port" vigil_receiver_cgroupstats_containers_tracked 'cgroupstats/main')" = 0 ] ||
  fail "state of the removed container was not freed"
[ "$(metric "$port" vigil_receiver_refused_metric_points 'cgroupstats/main')" = 0 ] || fail "points refused"
ok "a removed container stops being reported and its state is freed"
vg_stop c
grep -q 'level=error' "$T/c.log" && fail "errors in the log"
echo "3 passed, 0 failed"
