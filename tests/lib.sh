# Shared helpers for the script tests (sourced). ctest gives VIGIL_BIN, VIGIL_SRC, VIGIL_BUILD.
set -euo pipefail
: "${VIGIL_BIN:?run through ctest (VIGIL_BIN unset)}"
: "${VIGIL_SRC:?}"
T=$(mktemp -d /tmp/vigil-test.XXXXXX)
VG_PIDS=()
vg_cleanup() {
  local p
  for p in "${VG_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  if [ "${VG_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap vg_cleanup EXIT

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f (tail)"; tail -n 30 "$f"; }; done >&2; exit 1; }
ok() { echo "ok: $*"; }
# Exit 77 (ctest: skipped) with the reason said loudly.
skip() { echo "SKIPPED: $*" >&2; echo "SKIPPED: $*"; exit 77; }

# A free port below the kernel's ephemeral range, so that no bind(0) elsewhere
# (other tests run in parallel) can be handed the same port before we use it.
free_port() {
  python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randint(20000, max(20001, lo - 1))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# vg_start NAME CONFIG... : starts vigil in the background; log in $T/NAME.log; pid in VG_PID_NAME.
vg_start() {
  local name=$1; shift
  local args=()
  for c in "$@"; do args+=(--config "$c"); done
  "$VIGIL_BIN" "${args[@]}" >"$T/$name.out" 2>"$T/$name.log" &
  local pid=$!
  VG_PIDS+=("$pid")
  printf -v "VG_PID_$name" '%s' "$pid"
  vg_wait_log "$name" 'running with' 20 || fail "$name did not start"
}
# vg_wait_log NAME REGEX [SECONDS]
vg_wait_log() {
  local name=$1 re=$2 secs=${3:-20} i
  for ((i = 0; i < secs * 20; i++)); do
    grep -Eq -- "$re" "$T/$name.log" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# vg_stop NAME : SIGTERM, wait, require exit 0.
vg_stop() {
  local name=$1 var="VG_PID_$1" rc=0
  local pid=${!var}
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with $rc after SIGTERM"
  grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$T/$name.log" && fail "$name: sanitizer report"
  return 0
}
# metric PORT PREFIX [LABEL-SUBSTRING] : sum of every series whose name starts with
# PREFIX (and whose labels contain the substring); 0 if none.
metric() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" -v l="${3:-}" '
    $1 !~ /^#/ && index($1, n) == 1 && index($1, l) { s += $2 } END { printf "%.0f\n", s + 0 }'
}
# metric_exact PORT NAME [LABEL-SUBSTRING] : like metric, for exactly this series name.
metric_exact() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" -v l="${3:-}" '
    $1 !~ /^#/ && ($1 == n || index($1, n "{") == 1) && index($1, l) { s += $2 } END { printf "%.0f\n", s + 0 }'
}
# wait_metric SECONDS PORT PREFIX MIN [LABEL-SUBSTRING] : waits until metric >= MIN
# (re-reading it every time; `wait_until ... "$(metric ...)"` would read it once).
wait_metric() {
  local secs=$1 port=$2 name=$3 min=$4 label=${5:-} i v
  for ((i = 0; i < secs * 10; i++)); do
    v=$(metric "$port" "$name" "$label" 2>/dev/null || echo 0)
    [ "$v" -ge "$min" ] && return 0
    sleep 0.1
  done
  echo "wait_metric: $name${label:+ ($label)} is $v, wanted >= $min" >&2
  return 1
}
# wait_until SECONDS CMD... : polls CMD until it succeeds.
wait_until() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
items() { python3 "$VIGIL_SRC/tests/otlp_items.py" "$@"; }
