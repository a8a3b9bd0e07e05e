# otlp receiver, gRPC keepalive with the Collector's option names
# (keepalive.server_parameters, keepalive.enforcement_policy), seen from a raw
# HTTP/2 client: an idle connection gets GOAWAY after max_connection_idle; a
# silent peer gets a PING after `time` and is closed when it does not answer
# within `timeout` (one that answers stays); a connection older than
# max_connection_age gets GOAWAY and is closed after the grace period; a client
# pinging faster than min_time gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
. "$VIGIL_SRC/tests/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
P1=$(free_port); P2=$(free_port); P3=$(free_port); P4=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp/idle:
    protocols: { grpc: { endpoint: "127.0.0.1:$P1", keepalive: { server_parameters: { max_connection_idle: 1s } } } }
  otlp/ping:
    protocols: { grpc: { endpoint: "127.0.0.1:$P2", keepalive: { server_parameters: { time: 1s, timeout: 1s } } } }
  otlp/age:
    protocols:
      grpc: { endpoint: "127.0.0.1:$P3", keepalive: { server_parameters: { max_connection_age: 1s, max_connection_age_grace: 1s } } }
  otlp/calm:
    protocols:
      grpc: { endpoint: "127.0.0.1:$P4", keepalive: { enforcement_policy: { min_time: 10s, permit_without_stream: true } } }
exporters:
  nop:
service:
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp/idle, otlp/ping, otlp/age, otlp/calm], exporters: [nop] }
YAML
cat > "$T/ka.py" <<'PY'
import select, socket, struct, sys, time
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
def fr(t, f, sid, p):
    return struct.pack(">I", len(p))[1:] + bytes([t, f]) + struct.pack(">I", sid) + p
def lit(n, v):
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
HDRS = (lit(b":method", b"POST") + lit(b":scheme", b"http") + lit(b":authority", b"x") +
        lit(b":path", b"/opentelemetry.proto.collector.trace.v1.TraceService/Export") +
        lit(b"content-type", b"application/grpc"))

def session(port, secs, answer_pings=False, pings=0, open_stream=False):
    """Runs a client for secs; returns the events seen, in order."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + fr(4, 0, 0, b""))
    if open_stream:
        s.sendall(fr(1, 4, 1, HDRS))
    for i in range(pings):
        s.sendall(fr(6, 0, 0, struct.pack(">Q", i + 1)))
    buf, ev, t0 = b"", [], time.time()
    while time.time() - t0 < secs:
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            ev.append("closed@%.0f" % (time.time() - t0))
            break
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            t, f, p = buf[3], buf[4], buf[9:9 + n]
            buf = buf[9 + n:]
            if t == 4 and not f & 1:
                s.sendall(fr(4, 1, 0, b""))
            elif t == 6 and not f & 1:
                ev.append("PING")
                if answer_pings:
                    s.sendall(fr(6, 1, 0, p))
            elif t == 7:
                ev.append("GOAWAY(%d%s)" % (int.from_bytes(p[4:8], "big"), "," + p[8:].decode() if len(p) > 8 else ""))
    s.close()
    return ev

port, case = int(sys.argv[1]), sys.argv[2]
if case == "idle":
    print(" ".join(session(port, 5)))
elif case == "ping":
    print(" ".join(session(port, 5)))
elif case == "ping_answered":
    print(" ".join(session(port, 3.5, answer_pings=True)) or "open")
elif case == "age":
    print(" ".join(session(port, 5, open_stream=True)))
elif case == "calm":
    print(" ".join(session(port, 3, pings=5)))
PY
vg_start c "$T/c.yaml"
passed=0
expect() { # NAME GOT REGEX
  [[ "$2" =~ $3 ]] || fail "$1: got '$2', wanted /$3/"
  ok "$1: $2"; passed=$((passed + 1))
}
expect "max_connection_idle 1s" "$(python3 "$T/ka.py" "$P1" idle)" '^GOAWAY\(0\) closed@[1-4]$'
expect "keepalive time 1s, timeout 1s, no answer" "$(python3 "$T/ka.py" "$P2" ping)" '^PING closed@[2-5]$'
expect "keepalive ping answered: the connection stays" "$(python3 "$T/ka.py" "$P2" ping_answered)" '^PING( PING)*$'
expect "max_connection_age 1s + grace 1s with a call in flight" "$(python3 "$T/ka.py" "$P3" age)" '^GOAWAY\(0\) closed@[2-5]$'
expect "pings faster than min_time" "$(python3 "$T/ka.py" "$P4" calm)" '^GOAWAY\(11,too_many_pings\)'
n=$(metric "$M" vigil_receiver_otlp_keepalive_closes)
[ "$n" -ge 3 ] || fail "keepalive closes counted: $n"
# still serving
printf '\0\0\0\0\0' > "$T/empty.grpc"
for p in "$P1" "$P2" "$P3" "$P4"; do
  curl -sS --http2-prior-knowledge -o /dev/null -D "$T/h" -H 'content-type: application/grpc' --data-binary "@$T/empty.grpc" \
    "http://127.0.0.1:$p/opentelemetry.proto.collector.trace.v1.TraceService/Export" || fail "port $p not serving"
  tr -d '\r' < "$T/h" | grep -qx 'grpc-status: 0' || fail "port $p: call failed"
done
vg_stop c
echo "$passed passed, 0 failed"
