# otlp receiver, bad input: each case checks the exact answer (status, gRPC
# code, the message naming what was wrong) and then that the collector still
# serves. Clients: curl (HTTP/1.1, h2c, gRPC over h2c), nghttp2's h2load, and
# python3 for raw bytes (hand-made protobuf, HTTP/2 frames, idle sockets).
. "$VIGIL_SRC/tests/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v h2load >/dev/null && command -v nghttp >/dev/null || skip "h2load or nghttp is not installed (Debian nghttp2-client)"

G=$(free_port); H=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G", max_recv_msg_size_mib: 1, request_timeout: 1s, max_connections: 600 }
      http: { endpoint: "127.0.0.1:$H", max_request_body_size: 1MiB, read_timeout: 1s }
exporters:
  file: { path: $T/out.json, flush_interval: 10ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp], exporters: [file] }
    metrics: { receivers: [otlp], exporters: [file] }
    logs: { receivers: [otlp], exporters: [file] }
YAML

# ---- python helpers: protobuf bodies, gRPC frames, raw HTTP/2, sockets ----
cat > "$T/h.py" <<'PY'
import gzip, os, re, select, socket, struct, sys, time

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def ld(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def request(span):  # ExportTraceServiceRequest{resource_spans{scope_spans{spans: span}}}
    return ld(1, ld(2, ld(2, span)))

TID, SID = bytes(range(1, 17)), bytes(range(1, 9))
GOOD = ld(1, TID) + ld(2, SID) + ld(5, b"checkout")

def body(kind):
    if kind == "good":
        return request(GOOD)
    if kind == "truncated":
        return request(GOOD)[:-3]
    if kind == "wiretype":        # span name (string, field 5) sent as a varint
        return request(ld(1, TID) + varint(5 << 3 | 0) + varint(42))
    if kind == "lenprefix":       # name says 200 bytes, 3 follow
        return request(ld(1, TID) + varint(5 << 3 | 2) + varint(200) + b"abc")
    if kind == "utf8":
        return request(ld(1, TID) + ld(5, b"bad\xc3("))
    if kind == "badid":
        return request(ld(1, TID[:15]) + ld(5, b"x"))
    if kind == "big":             # a valid request just over 1 MiB
        return request(GOOD + ld(5, b"n" * (1 << 20)))
    raise SystemExit("unknown body " + kind)

def frame(msg, compressed=False, declare=None):
    n = len(msg) if declare is None else declare
    return bytes([1 if compressed else 0]) + struct.pack(">I", n) + msg

def bomb(size):
    return gzip.compress(b"\0" * size, 9)

# ---- raw HTTP/2 ----
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

def fr(typ, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", sid) + payload

def hpack_lit(name, value):   # literal without indexing, new name, no Huffman
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

def grpc_headers(port, path=b"/opentelemetry.proto.collector.trace.v1.TraceService/Export"):
    return (hpack_lit(b":method", b"POST") + hpack_lit(b":scheme", b"http") + hpack_lit(b":path", path) +
            hpack_lit(b":authority", b"127.0.0.1:%d" % port) + hpack_lit(b"content-type", b"application/grpc") +
            hpack_lit(b"te", b"trailers"))

def read_frames(s, secs):
    """Frames until the peer closes or secs pass: list of (type, flags, stream, payload)."""
    buf, out, end = b"", [], time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.time()))
        if not r:
            break
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
            buf = buf[9 + n:]
    return out

def h2err(port, case):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + fr(4, 0, 0, b""))
    bad = {
        "headers_on_stream0": fr(1, 5, 0, grpc_headers(port)),
        "data_on_idle_stream": fr(0, 1, 1, b"hello"),
        "settings_bad_length": fr(4, 0, 0, b"\x00\x03\x00\x00\x00"),
        "window_update_zero": fr(8, 0, 0, b"\x00\x00\x00\x00"),
        "frame_too_large": fr(0, 0, 1, b"x" * 20000),
        "bad_hpack": fr(1, 5, 1, b"\xff\xff\xff\xff\xff\xff"),
        "even_stream_id": fr(1, 5, 2, grpc_headers(port)),
    }[case]
    s.sendall(bad)
    frames = read_frames(s, 5)
    s.close()
    for t, f, sid, p in frames:
        if t == 7:
            print("GOAWAY", int.from_bytes(p[4:8], "big"))
            return
    print("no GOAWAY; frames:", [t for t, _, _, _ in frames])

def bad_preface(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\0" * 32)
    frames = read_frames(s, 5)
    print("closed", len(frames))

def stall(port, secs):
    """h2c: headers of a gRPC call, then nothing. Prints what came back for stream 1."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + fr(4, 0, 0, b"") + fr(1, 4, 1, grpc_headers(port)))
    frames = read_frames(s, secs)
    s.close()
    got = []
    for t, f, sid, p in frames:
        if sid == 1 and t == 1:
            got.append("HEADERS%s" % ("+END_STREAM" if f & 1 else ""))
        if sid == 1 and t == 3:
            got.append("RST_STREAM(%d)" % int.from_bytes(p[:4], "big"))
    print(" ".join(got) or "nothing")

def silent(port, secs):
    """Connects and sends nothing: prints after how long the server closed, or 'open'."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    r, _, _ = select.select([s], [], [], secs)
    if r and not s.recv(100):
        print("closed %.1f" % (time.time() - t0))
    else:
        print("open")

def many(port, n, hold):
    """n connections at once, each sending the HTTP/2 preface; prints how many the
    server closed (refused) while the others stay open, then closes them all."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.3)
    for s in socks:
        try:
            s.send(PREFACE + fr(4, 0, 0, b""))
        except OSError:
            pass
    time.sleep(hold)
    closed = 0
    for s in socks:
        try:
            d = s.recv(65536)
            if d == b"":
                closed += 1
            else:
                r, _, _ = select.select([s], [], [], 0)
                if r and s.recv(65536) == b"":
                    closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(closed)
    for s in socks:
        s.close()

def pipeline(port):
    """Three HTTP/1.1 requests in one write on one connection; prints the statuses in order."""
    good = body("good")
    req = lambda path, ct, b: (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                               % (path, ct, len(b)) + b)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req(b"/v1/traces", b"application/x-protobuf", good) + req(b"/v1/nope", b"application/x-protobuf", good)
              + req(b"/v1/traces", b"application/json", b"{}"))
    data, end = b"", time.time() + 5
    while data.count(b"HTTP/1.1 ") < 3 and time.time() < end:
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            d = s.recv(65536)
            if not d:
                break
            data += d
    print(" ".join(c.decode() for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "body":
    sys.stdout.buffer.write(body(args[0]))
elif cmd == "frame":
    sys.stdout.buffer.write(frame(sys.stdin.buffer.read(), "compressed" in args,
                                  int(args[args.index("declare") + 1]) if "declare" in args else None))
elif cmd == "bomb":
    sys.stdout.buffer.write(bomb(int(args[0])))
else:
    globals()[cmd](*[int(a) if a.isdigit() else a for a in args])
PY
py() { python3 "$T/h.py" "$@"; }
for k in good truncated wiretype lenprefix utf8 badid big; do py body $k > "$T/$k.pb"; done
for k in good truncated wiretype lenprefix utf8 badid big; do py frame < "$T/$k.pb" > "$T/$k.grpc"; done
py frame declare 5000 < "$T/good.pb" > "$T/short.grpc"
py bomb $((64 << 20)) > "$T/bomb.gz"
py frame compressed < "$T/bomb.gz" > "$T/bomb.grpc"

vg_start c "$T/c.yaml"
URL="http://127.0.0.1:$H"
GURL="http://127.0.0.1:$G/opentelemetry.proto.collector.trace.v1.TraceService/Export"
passed=0

# http CASE EXPECTED-STATUS BODY-REGEX CURL-ARGS... : one HTTP/1.1 request.
http() {
  local name=$1 want=$2 re=$3; shift 3
  local code
  code=$(curl -sS -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "$@") || fail "$name: curl failed"
  [ "$code" = "$want" ] || { cat "$T/hdr" "$T/resp" >&2; fail "$name: HTTP $code, wanted $want"; }
  grep -aEq -- "$re" "$T/resp" || { cat "$T/resp" >&2; echo >&2; fail "$name: answer does not match /$re/"; }
  ok "$name: $code"
  passed=$((passed + 1))
}
# grpc CASE CODE MESSAGE-REGEX FILE [NGHTTP-ARGS...] : one gRPC call over h2c (nghttp, which keeps
# reading the answer when the server answers before the upload ends); checks grpc-status and grpc-message.
grpc() {
  local name=$1 want=$2 re=$3 file=$4; shift 4
  timeout 20 nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -H 'te: trailers' -d "$file" "$@" \
    "${GURL_OVERRIDE:-$GURL}" > "$T/ghdr" 2>&1 || true
  local got
  got=$(grep -a -oE '\) grpc-status: [0-9]+' "$T/ghdr" | head -1 | awk '{print $3}')
  [ "$got" = "$want" ] || { grep -a 'recv' "$T/ghdr" | head -20 >&2; fail "$name: grpc-status '$got', wanted $want"; }
  grep -a -Eq -- "\) grpc-message: .*$re" "$T/ghdr" || { grep -a 'grpc-' "$T/ghdr" >&2; fail "$name: grpc-message does not match /$re/"; }
  ok "$name: grpc-status $got"
  passed=$((passed + 1))
}
# still_serving: one good request of each protocol.
still_serving() {
  local c
  c=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' --data-binary "@$T/good.pb" "$URL/v1/traces") || fail "not serving HTTP after $1"
  [ "$c" = 200 ] || fail "HTTP answers $c after $1"
  curl -sS --http2-prior-knowledge -o /dev/null -D "$T/shdr" -H 'content-type: application/grpc' --data-binary "@$T/good.grpc" "$GURL" || fail "not serving gRPC after $1"
  tr -d '\r' < "$T/shdr" | grep -q '^grpc-status: 0$' || fail "gRPC fails after $1"
}
PB=(-H 'Content-Type: application/x-protobuf')
JS=(-H 'Content-Type: application/json')

# ---- OTLP/HTTP: malformed bodies -> 400 with a google.rpc.Status naming the problem
http "http truncated protobuf" 400 'spans\[0\].*truncated protobuf' "${PB[@]}" --data-binary "@$T/truncated.pb" "$URL/v1/traces"
http "http wrong wire type" 400 'spans\[0\]\.name: wire type 0, expected 2' "${PB[@]}" --data-binary "@$T/wiretype.pb" "$URL/v1/traces"
http "http length prefix past the end" 400 'length 200 exceeds the 3 bytes left' "${PB[@]}" --data-binary "@$T/lenprefix.pb" "$URL/v1/traces"
http "http invalid UTF-8" 400 'spans\[0\]\.name: invalid UTF-8 in string' "${PB[@]}" --data-binary "@$T/utf8.pb" "$URL/v1/traces"
http "http protobuf id of 15 bytes" 400 'trace_id: expected 16 bytes or none \(got 15\)' "${PB[@]}" --data-binary "@$T/badid.pb" "$URL/v1/traces"
http "http bad JSON" 400 '^\{"code":3,"message":"invalid OTLP/JSON: invalid JSON' "${JS[@]}" --data-binary '{"resourceSpans":[' "$URL/v1/traces"
http "http wrong hex id" 400 '"code":3,.*traceId: expected 32 hex characters' "${JS[@]}" \
  --data-binary '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00112233","name":"x"}]}]}]}' "$URL/v1/traces"
http "http corrupt gzip" 400 'corrupt compressed data' "${PB[@]}" -H 'Content-Encoding: gzip' --data-binary "@$T/good.pb" "$URL/v1/traces"
still_serving "malformed HTTP bodies"

# ---- limits: 413
http "http body over the limit" 413 '' "${PB[@]}" --data-binary "@$T/big.pb" "$URL/v1/traces"
[ "$(stat -c %s "$T/bomb.gz")" -lt 200000 ] || fail "the gzip bomb is not small"
http "http gzip bomb (64 MiB of zeros)" 413 'gzip request decompresses to more than the limit of 1048576 bytes' \
  "${PB[@]}" -H 'Content-Encoding: gzip' --data-binary "@$T/bomb.gz" "$URL/v1/traces"
still_serving "oversized HTTP bodies"

# ---- routing: 404, 405, 415
http "http unknown path" 404 '^404 page not found: /v1/nope' "${PB[@]}" --data-binary "@$T/good.pb" "$URL/v1/nope"
http "http wrong method" 405 '405 method not allowed, supported: \[POST\]' "$URL/v1/traces"
grep -qi '^Allow: POST' "$T/hdr" || fail "405 without Allow: POST"
http "http wrong content type" 415 'supported: \[application/json, application/x-protobuf\]' \
  -H 'Content-Type: text/plain' --data-binary hello "$URL/v1/logs"
http "http unknown content encoding" 415 'unsupported Content-Encoding "br"' "${PB[@]}" -H 'Content-Encoding: br' \
  --data-binary "@$T/good.pb" "$URL/v1/traces"
http "h2c unknown path" 404 '^404 page not found' --http2-prior-knowledge "${PB[@]}" --data-binary "@$T/good.pb" "$URL/x"
http "h2c bad JSON" 400 '"code":3,"message":"invalid OTLP/JSON' --http2-prior-knowledge "${JS[@]}" --data-binary '[' "$URL/v1/metrics"
still_serving "routing errors"

# ---- keep-alive and pipelining
got=$(py pipeline "$H")
[ "$got" = "200 404 200" ] || fail "pipelined answers: '$got', wanted '200 404 200'"
ok "http pipelining: $got"; passed=$((passed + 1))

# ---- OTLP/gRPC
grpc "grpc truncated protobuf" 3 'truncated protobuf' "$T/truncated.grpc"
grpc "grpc wrong wire type" 3 'spans\[0\]\.name: wire type 0, expected 2' "$T/wiretype.grpc"
grpc "grpc invalid UTF-8" 3 'invalid UTF-8 in string' "$T/utf8.grpc"
grpc "grpc length prefix larger than the body" 3 'gRPC length prefix says 5000 bytes but the request ended after' "$T/short.grpc"
grpc "grpc message over max_recv_msg_size" 8 'larger than max_recv_msg_size \(1048576 bytes\)' "$T/big.grpc"
grpc "grpc gzip bomb" 8 'gzip request decompresses to more than the limit of 1048576 bytes' "$T/bomb.grpc" -H 'grpc-encoding: gzip'
grpc "grpc compressed flag without encoding" 3 'flagged compressed but grpc-encoding is identity' "$T/bomb.grpc"
grpc "grpc unknown encoding" 12 'grpc-encoding "snappy" is not supported' "$T/good.grpc" -H 'grpc-encoding: snappy'
GURL_OVERRIDE="http://127.0.0.1:$G/opentelemetry.proto.collector.trace.v1.TraceService/Nope" \
  grpc "grpc unknown method" 12 'unknown service or method /opentelemetry.proto.collector.trace.v1.TraceService/Nope' "$T/good.grpc"
code=$(curl -sS --http2-prior-knowledge -o /dev/null -D "$T/ghdr" -w '%{http_code}' -H 'content-type: application/json' --data-binary "@$T/good.grpc" "$GURL")
[ "$code" = 415 ] && grep -q '^grpc-status: 13' "$T/ghdr" || { cat "$T/ghdr"; fail "grpc wrong content-type: $code"; }
ok "grpc wrong content type: 415"; passed=$((passed + 1))
still_serving "malformed gRPC calls"

# ---- HTTP/2 protocol errors: GOAWAY with the right code, the collector serves on
for c in headers_on_stream0:1 data_on_idle_stream:1 settings_bad_length:6 window_update_zero:1 frame_too_large:6 bad_hpack:9 even_stream_id:1; do
  name=${c%%:*}; want=${c##*:}
  for port in "$G" "$H"; do
    got=$(py h2err "$port" "$name")
    [ "$got" = "GOAWAY $want" ] || fail "h2 $name on port $port: $got, wanted GOAWAY $want"
  done
  ok "h2 $name: GOAWAY $want (gRPC and HTTP ports)"; passed=$((passed + 1))
done
py bad_preface "$G" | grep -q '^closed' || fail "bad preface: connection not closed"
ok "h2 bad preface: closed"; passed=$((passed + 1))
still_serving "HTTP/2 protocol errors"

# ---- stalled clients: answered, resources freed
got=$(py stall "$G" 4)
[ "$got" = "HEADERS+END_STREAM RST_STREAM(0)" ] || fail "stalled gRPC call: $got"
(sleep 3 | curl -sS --http2-prior-knowledge -o /dev/null -D "$T/stall" -X POST -T - -H 'content-type: application/grpc' "$GURL") || true
tr -d '\r' < "$T/stall" | grep -q '^grpc-status: 4$' || { cat "$T/stall"; fail "stalled call not answered DEADLINE_EXCEEDED"; }
grep -q '^grpc-message: request not complete within' "$T/stall" || fail "stall: no message"
wait_metric 5 "$M" vigil_receiver_otlp_request_timeouts 2 || fail "timeouts not counted"
ok "gRPC headers then stall: DEADLINE_EXCEEDED after request_timeout, stream reset"; passed=$((passed + 1))
(sleep 3 | curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_code}' -X POST -T - "${PB[@]}" "$URL/v1/traces" > "$T/h2stall") || true
[ "$(cat "$T/h2stall")" = 408 ] || fail "stalled h2c request: $(cat "$T/h2stall")"
(sleep 3 | curl -sS -o /dev/null -w '%{http_code}' -X POST -T - -H 'Transfer-Encoding: chunked' "${PB[@]}" "$URL/v1/traces" > "$T/h1stall") || true
[ "$(cat "$T/h1stall")" = 408 ] || fail "stalled HTTP/1.1 request: $(cat "$T/h1stall")"
ok "HTTP headers then stall: 408 (HTTP/1.1 and h2c)"; passed=$((passed + 1))
got=$(py silent "$G" 5)
case "$got" in closed*) ;; *) fail "silent gRPC connection: $got";; esac
ok "silent connection closed ($got s)"; passed=$((passed + 1))
still_serving "stalled clients"

# ---- 1,000 concurrent connections
# a) 1,000 idle HTTP/2 connections against max_connections 600: the rest is refused.
before=$(metric "$M" vigil_receiver_otlp_connections_refused 'protocol="grpc"')
closed=$(py many "$G" 1000 1)
after=$(metric "$M" vigil_receiver_otlp_connections_refused 'protocol="grpc"')
[ $((after - before)) -ge 400 ] || fail "only $((after - before)) connections refused over max_connections"
[ "$closed" -ge 400 ] || fail "only $closed connections closed by the server"
ok "1,000 connections, max_connections 600: $((after - before)) refused, the rest served"
passed=$((passed + 1))
wait_until 10 sh -c "[ \$(curl -fsS http://127.0.0.1:$M/metrics | awk '/^vigil_receiver_otlp_connections\\{.*grpc/ {print \$2}') -eq 0 ]" \
  || fail "connections not released"
# b) 1,000 concurrent gRPC clients with h2load (500 connections each way, all served).
sent0=$(metric "$M" vigil_receiver_accepted_spans)
h2load -n 1000 -c 500 -m 1 -t 2 -d "$T/good.grpc" -H 'content-type: application/grpc' -H 'te: trailers' "$GURL" > "$T/h2load.out" 2>&1 \
  || { cat "$T/h2load.out"; fail "h2load failed"; }
grep -q '1000 succeeded' "$T/h2load.out" || { cat "$T/h2load.out"; fail "h2load: not all calls succeeded"; }
h2load -n 1000 -c 500 -m 1 -t 2 -d "$T/good.pb" -H 'content-type: application/x-protobuf' "$URL/v1/traces" > "$T/h2load2.out" 2>&1 \
  || { cat "$T/h2load2.out"; fail "h2load (h2c) failed"; }
grep -q '1000 succeeded' "$T/h2load2.out" || { cat "$T/h2load2.out"; fail "h2load h2c: not all requests succeeded"; }
wait_metric 10 "$M" vigil_receiver_accepted_spans $((sent0 + 2000)) || fail "the pipeline did not get 2,000 spans"
ok "1,000 concurrent h2 clients (gRPC and h2c): every call accepted (grpc-status checked by the receiver's counters)"
passed=$((passed + 1))
still_serving "1,000 connections"

# rejected requests are counted per protocol
n=$(metric "$M" vigil_receiver_otlp_requests 'protocol="grpc",signal="traces",outcome="rejected"')
[ "$n" -ge 8 ] || fail "gRPC rejected requests counted: $n"
n=$(metric "$M" vigil_receiver_otlp_requests 'protocol="http",signal="traces",outcome="rejected"')
[ "$n" -ge 8 ] || fail "HTTP rejected requests counted: $n"
vg_stop c
echo "$passed passed, 0 failed"
