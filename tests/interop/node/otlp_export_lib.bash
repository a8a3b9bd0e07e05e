# Helpers for the OTLP exporter interop tests (sourced after tests/lib.sh).
NODE_DIR="$VIGIL_SRC/tests/interop/node"

# Node and the project's npm dependencies (npm ci from the lockfile when missing).
node_setup() {
  command -v node >/dev/null 2>&1 || skip "node is not installed (scripts/deps.sh test installs it)"
  command -v npm >/dev/null 2>&1 || skip "npm is not installed (scripts/deps.sh test installs it)"
  # Checked and installed under the lock other tests take too (npm ci empties node_modules first).
  (cd "$NODE_DIR" && flock "$NODE_DIR/.npm-lock" bash -c '
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
       [ ! -d node_modules/@grpc/grpc-js ] || [ ! -d node_modules/@grpc/proto-loader ]; then
      npm ci --no-audit --no-fund --loglevel=error
    fi') >"$T/npm.log" 2>&1 || { cat "$T/npm.log" >&2; fail "npm ci failed in $NODE_DIR"; }
}

# srv_start NAME ARGS... : the third-party OTLP server; log $T/NAME.log; pid in SRV_PID_NAME.
srv_start() {
  local name=$1; shift
  node "$NODE_DIR/otlp_server.js" "$@" >"$T/$name.log" 2>&1 &
  local pid=$!
  VG_PIDS+=("$pid")
  printf -v "SRV_PID_$name" '%s' "$pid"
  vg_wait_log "$name" 'otlp_server ready' 20 || fail "server $name did not start"
}
srv_stop() {
  local var="SRV_PID_$1"
  kill -TERM "${!var}" 2>/dev/null || true
  wait "${!var}" 2>/dev/null || true
}
# srv_stat PORT EXPR : a value from the server's /_stats (python expression over `s`).
srv_stat() {
  curl -fsS "http://127.0.0.1:$1/_stats" | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

# gen_traces FILE REQUESTS SPANS : OTLP/JSON lines with unique span ids.
gen_traces() {
  python3 - "$@" <<'PY'
import json, sys
path, nreq, nsp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    for r in range(nreq):
        spans = []
        for i in range(nsp):
            n = r * nsp + i
            spans.append({"traceId": "%032x" % (n // 4 + 1), "spanId": "%016x" % (n + 1), "name": "op-%d" % (n % 17),
                          "kind": 2, "startTimeUnixNano": str(1700000000000000000 + n),
                          "endTimeUnixNano": str(1700000000000500000 + n),
                          "attributes": [{"key": "i", "value": {"intValue": str(n)}},
                                         {"key": "s", "value": {"stringValue": "x" * (n % 40)}}]})
        f.write(json.dumps({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "gen"}}]},
            "scopeSpans": [{"scope": {"name": "g"}, "spans": spans}]}]}) + "\n")
PY
}

# covers INPUT RECEIVED : every item of INPUT is in RECEIVED at least once (duplicates allowed).
covers() {
  python3 - "$VIGIL_SRC/tests" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import otlp_items
a = set(otlp_items.items([sys.argv[2]]))
blist = otlp_items.items([sys.argv[3]])
b = set(blist)
missing = a - b
print("input %d distinct items, received %d (%d distinct), missing %d" % (len(a), len(blist), len(b), len(missing)))
for x in sorted(missing)[:3]:
    print("missing:", x)
sys.exit(1 if missing else 0)
PY
}

# rss_kb PID : current VmRSS in kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
