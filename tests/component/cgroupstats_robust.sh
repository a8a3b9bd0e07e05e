# cgroupstats with bad input, through the real binary: a root that does not
# exist or holds no cgroup filesystem is a clear error at start (exit 1, the
# root named in the log); a tree with unreadable files and directories and
# with garbage in its files is scraped without a crash, the bad parts counted
# as read errors and the good containers reported; a reload (SIGHUP) replaces
# the receiver without losing the scrape loop; SIGTERM exits 0.
. "$VIGIL_SRC/tests/lib.sh"

# 1. roots that are not cgroup filesystems
mkdir -p "$T/empty"
for root in /nonexistent/cgroup "$T/empty" "$VIGIL_SRC/tests/fixtures/cgroupstats/machine-id"; do
  cat > "$T/bad.yaml" <<YAML
receivers:
  cgroupstats: { root: "$root" }
exporters:
  nop:
service:
  telemetry: { metrics: { address: "127.0.0.1:$(free_port)" } }
  pipelines:
    metrics: { receivers: [cgroupstats], exporters: [nop] }
YAML
  rc=0
  timeout 20 "$VIGIL_BIN" --config "$T/bad.yaml" >"$T/bad.out" 2>"$T/bad.log" || rc=$?
  [ "$rc" = 1 ] || { cat "$T/bad.log" >&2; fail "root $root: exit code $rc, expected 1"; }
  grep -q "no cgroup filesystem at root $root" "$T/bad.log" || { cat "$T/bad.log" >&2; fail "root $root: no clear error"; }
  grep -q 'AddressSanitizer\|runtime error:\|LeakSanitizer' "$T/bad.log" && fail "root $root: sanitizer report"
done
ok "a root without a cgroup filesystem stops the start with a clear error"

# 2. unreadable and garbage files (run as nobody so that permissions bite)
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null || skip "part 2 needs root and setpriv (to run vigil as nobody)"
chmod 755 "$T"
cp -r "$VIGIL_SRC/tests/fixtures/cgroup/v2-systemd" "$T/root"
A=$(find "$T/root" -type d -name 'cri-containerd-a1*')
E=$(find "$T/root" -type d -name 'cri-containerd-e5*')
D=$(find "$T/root" -type d -name 'docker-d4*')
chmod 000 "$A/memory.stat" "$A/cpu.pressure"   # unreadable files: the rest of A is reported
chmod 000 "$E"                                  # an unreadable container directory: skipped
# garbage of every kind in D's files: binary junk, huge and negative numbers, no newlines
head -c 3000 /dev/urandom > "$D/cpu.stat"
printf 'anon 99999999999999999999999999\nfile -5\ninactive_file\n' > "$D/memory.stat"
printf '18446744073709551615' > "$D/memory.current"
printf 'some avg10=nan total=-1\nfull avg10=1e999 total=x\n' > "$D/cpu.pressure"
printf '8:0 rbytes=1 wbytes\n::: rios=\n9999999999:1 rbytes=18446744073709551616\n' > "$D/io.stat"
head -c 20000 /dev/urandom | tr -d '\0' > "$D/memory.events"
chmod -R a+rX "$T/root" 2>/dev/null || true
chmod 000 "$A/memory.stat" "$A/cpu.pressure" "$E"
mkdir -p "$T/out" && chmod 777 "$T/out"
port=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  cgroupstats: { root: $T/root, collection_interval: 100ms, initial_delay: 0s, start_jitter: 0s }
exporters:
  file: { path: $T/out/m.json, flush_interval: 100ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    metrics: { receivers: [cgroupstats], exporters: [file] }
YAML
chmod 644 "$T/c.yaml"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$VIGIL_BIN" --config "$T/c.yaml" >"$T/c.out" 2>"$T/c.log" &
VG_PID_c=$!
VG_PIDS+=("$VG_PID_c")
vg_wait_log c 'running with' 20 || fail "vigil did not start as nobody"
wait_metric 20 "$port" vigil_receiver_cgroupstats_scrapes 5 || fail "no scrapes"
errs=$(metric_exact "$port" vigil_receiver_cgroupstats_read_errors)
[ "$errs" -ge 3 ] || fail "read errors counted: $errs, expected at least 3 per scrape"
n=$(metric_exact "$port" vigil_receiver_cgroupstats_containers)
[ "$n" = 5 ] || fail "containers reported: $n, expected 5 (6 minus the unreadable one)"
[ "$(metric_exact "$port" vigil_receiver_cgroupstats_containers_tracked)" = 5 ] || fail "tracked"
[ "$(metric_exact "$port" vigil_receiver_cgroupstats_scrapes_failed)" = 0 ] || fail "failed scrapes"
ok "unreadable files and directories counted ($errs read errors), garbage survived, 5 containers reported"

# 3. reload: the new receiver takes over, the old one drains
before=$(metric "$port" vigil_receiver_accepted_metric_points)
kill -HUP "$VG_PID_c"
vg_wait_log c 'configuration reloaded' 10 || fail "no reload in the log"
sleep 1
wait_metric 20 "$port" vigil_receiver_cgroupstats_scrapes 3 || fail "no scrapes after the reload"
vg_stop c
grep -q 'level=error' "$T/c.log" && { grep 'level=error' "$T/c.log" >&2; fail "errors in the log"; }
python3 - "$T/out/m.json" "${A#$T/root}" "${D#$T/root}" <<'PY' || fail "output is wrong"
import json, sys
seen = {}
for line in open(sys.argv[1]):
    for rm in json.loads(line)["resourceMetrics"]:
        kv = {a["key"]: a["value"].get("stringValue") for a in rm["resource"]["attributes"]}
        names = {m["name"] for sm in rm["scopeMetrics"] for m in sm["metrics"]}
        seen.setdefault(kv["cgroup.path"], set()).update(names)
a, d = seen.get(sys.argv[2]), seen.get(sys.argv[3])
assert a and "container.cpu.time" in a and "container.memory.usage" in a, a
assert "container.memory.rss" not in a and "container.cpu.pressure.stall_time" not in a, a
assert d is not None, "the container with garbage files is not reported"
assert len(seen) == 5, sorted(seen)
print("containers in the output:", len(seen))
PY
ok "reload keeps scraping; output has the readable parts only"
echo "3 passed, 0 failed"
