# otlp receiver, the accepting side: every transport and encoding combination
# delivers exactly what was sent.
#   OTLP/HTTP: HTTP/1.1 and h2c x JSON (tests/data/otlp) and protobuf x
#              identity, gzip, zstd, deflate - over TCP and a unix socket;
#   OTLP/gRPC: identity, gzip, zstd, deflate - over TCP and a unix socket;
# and the answers: 200 with an empty Export*ServiceResponse in the request's
# content type, grpc-status 0 with an empty response message. The file
# exporter's output must hold exactly the items sent (tests/otlp_items.py).
. "$VIGIL_SRC/tests/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v zstd >/dev/null || skip "the zstd command is not installed"
G=$(free_port); H=$(free_port); M=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$G" }
      http: { endpoint: "127.0.0.1:$H" }
  otlp/unix:
    protocols:
      grpc: { transport: unix, endpoint: $T/grpc.sock }
      http: { transport: unix, endpoint: $T/http.sock }
exporters:
  file: { path: $T/got.json, flush_interval: 10ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$M" } }
  pipelines:
    traces: { receivers: [otlp, otlp/unix], exporters: [file] }
    metrics: { receivers: [otlp, otlp/unix], exporters: [file] }
    logs: { receivers: [otlp, otlp/unix], exporters: [file] }
YAML
# A protobuf trace request and the OTLP/JSON it must come out as.
python3 - "$T" <<'PY'
import struct, sys
T = sys.argv[1]
def v(n):
    o = b""
    while True:
        b = n & 0x7F; n >>= 7
        if n: o += bytes([b | 0x80])
        else: return o + bytes([b])
ld = lambda f, p: v(f << 3 | 2) + v(len(p)) + p
vi = lambda f, n: v(f << 3) + v(n)
fx64 = lambda f, n: v(f << 3 | 1) + struct.pack("<Q", n)
kv = lambda k, val: ld(1, k) + ld(2, val)
span = (ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + ld(5, "proto ✓".encode()) + vi(6, 2) +
        fx64(7, 1700000000000000001) + fx64(8, 1700000000500000000) +
        ld(9, kv(b"n", vi(3, 42))) + ld(9, kv(b"d", v(4 << 3 | 1) + struct.pack("<d", 2.5))) +
        ld(9, kv(b"b", vi(2, 1))) + ld(9, kv(b"raw", ld(7, b"\x00\xff"))) +
        ld(15, vi(3, 2) + ld(2, b"boom")))
resource = ld(1, kv(b"service.name", ld(1, b"proto-svc")))   # Resource{attributes}
scope = ld(1, b"lib") + ld(2, b"1.0")                           # InstrumentationScope{name, version}
req = ld(1, ld(1, resource) + ld(2, ld(1, scope) + ld(2, span)))  # {resource_spans{resource, scope_spans}}
open(T + "/req.pb", "wb").write(req)
open(T + "/req.json", "w").write(
    '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"proto-svc"}}]},'
    '"scopeSpans":[{"scope":{"name":"lib","version":"1.0"},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",'
    '"spanId":"0102030405060708","name":"proto \\u2713","kind":2,"startTimeUnixNano":"1700000000000000001",'
    '"endTimeUnixNano":"1700000000500000000","attributes":[{"key":"n","value":{"intValue":"42"}},'
    '{"key":"d","value":{"doubleValue":2.5}},{"key":"b","value":{"boolValue":true}},'
    '{"key":"raw","value":{"bytesValue":"AP8="}}],"status":{"code":2,"message":"boom"}}]}]}]}\n')
import gzip, zlib
for name, data in (("req.pb", req),):
    open(T + "/" + name + ".gz", "wb").write(gzip.compress(data))
    open(T + "/" + name + ".zz", "wb").write(zlib.compress(data))
PY
zstd -q -f -o "$T/req.pb.zst" "$T/req.pb"
for f in "$VIGIL_SRC"/tests/data/otlp/*.jsonl; do cat "$f"; done > "$T/data.jsonl"
python3 - "$T" <<'PY'
import gzip, sys, zlib
T = sys.argv[1]
for i, line in enumerate(l for l in open(T + "/data.jsonl") if l.strip()):
    b = line.encode()
    open("%s/j%d.json" % (T, i), "wb").write(b)
    open("%s/j%d.json.gz" % (T, i), "wb").write(gzip.compress(b))
    open("%s/j%d.json.zz" % (T, i), "wb").write(zlib.compress(b))
PY
for f in "$T"/j*.json; do zstd -q -f -o "$f.zst" "$f"; done
vg_start c "$T/c.yaml"
: > "$T/sent.jsonl"
passed=0
enc_ext() { case $1 in identity) echo "";; gzip) echo .gz;; zstd) echo .zst;; deflate) echo .zz;; esac; }
sig_of() { if grep -q '"resourceSpans"' "$1"; then echo traces; elif grep -q '"resourceMetrics"' "$1"; then echo metrics; else echo logs; fi; }

# post WHERE(tcp|unix) VERSION(1.1|2) CT FILE ENCODING PATH : expects 200 and the empty response
post() {
  local where=$1 ver=$2 ct=$3 file=$4 enc=$5 path=$6 url extra=()
  if [ "$where" = unix ]; then extra=(--unix-socket "$T/http.sock"); url="http://localhost$path"; else url="http://127.0.0.1:$H$path"; fi
  [ "$ver" = 2 ] && extra+=(--http2-prior-knowledge) || extra+=(--http1.1)
  [ "$enc" != identity ] && extra+=(-H "Content-Encoding: $enc")
  local code
  code=$(curl -sS -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "${extra[@]}" -H "Content-Type: $ct" \
    --data-binary "@$file$(enc_ext "$enc")" "$url") || fail "curl $where HTTP/$ver $enc"
  [ "$code" = 200 ] || { cat "$T/resp"; fail "$where HTTP/$ver $ct $enc $path: $code"; }
  tr -d '\r' < "$T/hdr" | grep -qix "content-type: $ct" || fail "answer not in $ct"
  if [ "$ct" = application/json ]; then [ "$(cat "$T/resp")" = "{}" ] || fail "JSON answer: $(cat "$T/resp")"
  else [ ! -s "$T/resp" ] || fail "protobuf answer not empty"; fi
}
for where in tcp unix; do
  for ver in 1.1 2; do
    for enc in identity gzip zstd deflate; do
      for f in "$T"/j*.json; do
        post "$where" "$ver" application/json "$f" "$enc" "/v1/$(sig_of "$f")"
        cat "$f" >> "$T/sent.jsonl"
      done
      post "$where" "$ver" application/x-protobuf "$T/req.pb" "$enc" /v1/traces
      cat "$T/req.json" >> "$T/sent.jsonl"
    done
  done
  ok "OTLP/HTTP over $where: HTTP/1.1 and h2c x JSON and protobuf x identity, gzip, zstd, deflate"
  passed=$((passed + 1))
done

# gRPC
python3 - "$T" <<'PY'
import struct, sys
T = sys.argv[1]
for ext, flag in (("", 0), (".gz", 1), (".zst", 1), (".zz", 1)):
    m = open(T + "/req.pb" + ext, "rb").read()
    open(T + "/req.grpc" + ext, "wb").write(bytes([flag]) + struct.pack(">I", len(m)) + m)
PY
for where in tcp unix; do
  for enc in identity gzip zstd deflate; do
    if [ "$where" = unix ]; then extra=(--unix-socket "$T/grpc.sock"); url=http://localhost; else extra=(); url="http://127.0.0.1:$G"; fi
    curl -sS --http2-prior-knowledge -o "$T/gresp" -D "$T/ghdr" "${extra[@]}" -H 'content-type: application/grpc' \
      -H "grpc-encoding: $enc" --data-binary "@$T/req.grpc$(enc_ext "$enc")" \
      "$url/opentelemetry.proto.collector.trace.v1.TraceService/Export" || fail "gRPC $where $enc"
    tr -d '\r' < "$T/ghdr" | grep -qx 'grpc-status: 0' || { cat "$T/ghdr"; fail "gRPC $where $enc failed"; }
    [ "$(od -An -tx1 "$T/gresp" | tr -d ' \n')" = 0000000000 ] || fail "gRPC answer is not an empty message"
    cat "$T/req.json" >> "$T/sent.jsonl"
  done
  ok "OTLP/gRPC over $where: identity, gzip, zstd, deflate; empty Export response, grpc-status 0"
  passed=$((passed + 1))
done

read -r S P L < <(items --count "$T/sent.jsonl")
wait_metric 20 "$M" vigil_exporter_sent_spans "$S" || fail "spans missing"
wait_metric 20 "$M" vigil_exporter_sent_metric_points "$P" || fail "points missing"
wait_metric 20 "$M" vigil_exporter_sent_log_records "$L" || fail "log records missing"
vg_stop c
items --compare "$T/sent.jsonl" "$T/got.json" || fail "output differs from what was sent"
ok "file output holds exactly the $S spans, $P points and $L log records sent"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
