# otlp receiver under back-pressure from a real pipeline: batch processor in
# front of a file exporter writing to /dev/full. The first request is taken by
# the batch processor; its write fails (ENOSPC, retryable), the batch
# processor holds the batch and refuses new input, and the receiver must turn
# that into retryable answers: HTTP 503 + Retry-After (HTTP/1.1 and h2c,
# protobuf and JSON Status bodies), gRPC UNAVAILABLE with a
# google.rpc.RetryInfo in grpc-status-details-bin. Refused items are counted.
. "$VIGIL_SRC/tests/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
[ -w /dev/full ] || skip "/dev/full is not writable here"
G=$(free_port); H=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G" }
      http: { endpoint: "127.0.0.1:$H" }
processors:
  batch: { timeout: 1ms }
exporters:
  file: { path: /dev/full }
service:
  drain_timeout: 1s
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [file] }
YAML
python3 - "$T" <<'PY'
import struct, sys
def v(n):
    o = b""
    while True:
        b = n & 0x7F; n >>= 7
        if n: o += bytes([b | 0x80])
        else: return o + bytes([b])
ld = lambda f, p: v(f << 3 | 2) + v(len(p)) + p
# a span with a 10 KiB name so that the file exporter's write reaches the device
req = ld(1, ld(2, ld(2, ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + ld(5, b"x" * 10240))))
open(sys.argv[1] + "/req.pb", "wb").write(req)
open(sys.argv[1] + "/req.grpc", "wb").write(b"\0" + struct.pack(">I", len(req)) + req)
PY
vg_start c "$T/c.yaml"
URL="http://127.0.0.1:$H"
GURL="http://127.0.0.1:$G/opentelemetry.proto.collector.trace.v1.TraceService/Export"
passed=0
pass() { ok "$1"; passed=$((passed + 1)); }
post() { curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@"; }

# The first request enters the batch processor; then the pipeline is blocked.
code=$(post -H 'content-type: application/x-protobuf' --data-binary "@$T/req.pb" "$URL/v1/traces")
[ "$code" = 200 ] || fail "first request: $code"
wait_until 10 grep -q 'write to /dev/full failed' "$T/c.log" || fail "the exporter never failed"
refused=0
for i in $(seq 1 50); do
  code=$(post -H 'content-type: application/x-protobuf' --data-binary "@$T/req.pb" "$URL/v1/traces")
  [ "$code" = 503 ] && { refused=1; break; }
  sleep 0.1
done
[ $refused = 1 ] || fail "the pipeline never pushed back"

# HTTP/1.1, protobuf: 503, Retry-After, google.rpc.Status{code: 14}
tr -d '\r' < "$T/hdr" | grep -qx 'Retry-After: 1' || { cat "$T/hdr"; fail "503 without Retry-After"; }
tr -d '\r' < "$T/hdr" | grep -qix 'Content-Type: application/x-protobuf' || fail "503 body not protobuf"
[ "$(head -c 2 "$T/body" | od -An -tx1 | tr -d ' ')" = 080e ] || fail "503 body is not a Status with code 14"
grep -aq 'refused the data' "$T/body" || fail "503 body without a message"
pass "HTTP/1.1 protobuf: 503 + Retry-After: 1 + Status{code: 14}"

# HTTP/1.1, JSON
code=$(post -H 'content-type: application/json' --data-binary '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"json"}]}]}]}' "$URL/v1/traces")
[ "$code" = 503 ] || fail "JSON traces: $code"
grep -q '^{"code":14,"message":"the pipeline refused the data' "$T/body" || { cat "$T/body"; fail "JSON Status body"; }
tr -d '\r' < "$T/hdr" | grep -qx 'Retry-After: 1' || fail "JSON 503 without Retry-After"
pass "HTTP/1.1 JSON: 503 + Retry-After + {\"code\":14,...}"

# h2c
code=$(post --http2-prior-knowledge -H 'content-type: application/x-protobuf' --data-binary "@$T/req.pb" "$URL/v1/traces")
[ "$code" = 503 ] || fail "h2c: $code"
tr -d '\r' < "$T/hdr" | grep -qx 'retry-after: 1' || { cat "$T/hdr"; fail "h2c 503 without retry-after"; }
pass "h2c: 503 + retry-after"

# gRPC: UNAVAILABLE with RetryInfo
curl -sS --http2-prior-knowledge -o /dev/null -D "$T/ghdr" -H 'content-type: application/grpc' -H 'te: trailers' \
  --data-binary "@$T/req.grpc" "$GURL" || fail "gRPC call failed"
tr -d '\r' < "$T/ghdr" | grep -qx 'grpc-status: 14' || { cat "$T/ghdr"; fail "gRPC: not UNAVAILABLE"; }
details=$(tr -d '\r' < "$T/ghdr" | awk -F': ' '$1 == "grpc-status-details-bin" { print $2 }')
[ -n "$details" ] || fail "gRPC UNAVAILABLE without grpc-status-details-bin"
python3 - "$details" <<'PY' || fail "grpc-status-details-bin is not a Status with RetryInfo(1s)"
import base64, sys
b = sys.argv[1]
raw = base64.b64decode(b + "=" * (-len(b) % 4))
def fields(buf):
    i, out = 0, []
    while i < len(buf):
        key = 0; s = 0
        while True:
            c = buf[i]; i += 1; key |= (c & 0x7F) << s; s += 7
            if c < 0x80: break
        f, wt = key >> 3, key & 7
        if wt == 0:
            v = 0; s = 0
            while True:
                c = buf[i]; i += 1; v |= (c & 0x7F) << s; s += 7
                if c < 0x80: break
            out.append((f, v))
        elif wt == 2:
            n = 0; s = 0
            while True:
                c = buf[i]; i += 1; n |= (c & 0x7F) << s; s += 7
                if c < 0x80: break
            out.append((f, buf[i:i + n])); i += n
        else:
            raise SystemExit("unexpected wire type %d" % wt)
    return out
st = fields(raw)
assert (1, 14) in st, st
anys = [v for f, v in st if f == 3]
assert len(anys) == 1
any_ = dict(fields(anys[0]))
assert any_[1] == b"type.googleapis.com/google.rpc.RetryInfo", any_
retry = dict(fields(any_[2]))
duration = dict(fields(retry[1]))
assert duration[1] == 1, duration
PY
pass "gRPC: UNAVAILABLE + grpc-status-details-bin = Status{14, RetryInfo{retry_delay: 1s}}"

# While the batch processor holds a refused batch it is not ready: protobuf
# requests are refused before they are checked ("shed"); their spans are
# still counted as refused.
shed=$(metric "$M" vigil_receiver_otlp_requests_shed 'signal="traces"')
spans=$(metric "$M" vigil_receiver_refused_spans 'receiver="otlp"')
[ "$shed" -ge 3 ] || fail "shed requests counted: $shed (refused spans $spans)"
[ "$spans" -ge 3 ] || fail "refused spans counted: $spans"
n=$(metric "$M" vigil_receiver_otlp_requests 'protocol="grpc",signal="traces",outcome="refused"')
[ "$n" -ge 1 ] || fail "refused gRPC requests counted: $n"
n=$(metric "$M" vigil_receiver_otlp_requests 'protocol="http",signal="traces",outcome="refused"')
[ "$n" -ge 3 ] || fail "refused HTTP requests counted: $n"
total=$(metric_exact "$M" vigil_receiver_otlp_requests 'signal="traces",outcome="refused"')
[ "$total" -ge "$shed" ] || fail "shed requests ($shed) not among the refused ($total)"
pass "refusals counted per protocol and signal ($shed of $total refused requests shed before decoding)"
# With its exporter refusing for ever, SIGTERM drains until the deadline, then
# the batch processor drops what it holds (logged) and Vigil exits.
vg_stop c
grep -q 'dropping .* spans' "$T/c.log" || fail "the loss at the drain deadline is not logged"
pass "SIGTERM exits at the drain deadline with the loss logged"
echo "$passed passed, 0 failed"
