# syslog receiver under hostile input and at its limits, with the real binary:
# NUL bytes, invalid UTF-8, PRI <999>, a 1 MiB line, broken and truncated
# octet counts over TCP never crash it, are counted, keep valid UTF-8 in the
# output and leave it serving; on_error: drop leaves bad messages out;
# max_connections and idle_timeout close connections and count them.
. "$VIGIL_SRC/tests/lib.sh"
p1=$(free_port); p2=$(free_port); p3=$(free_port); mport=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  syslog/keep:
    enable_octet_counting: true
    max_octets: 4096
    tcp: { listen_address: "127.0.0.1:$p1" }
  syslog/drop:
    on_error: drop
    tcp: { listen_address: "127.0.0.1:$p2" }
  syslog/limits:
    tcp: { listen_address: "127.0.0.1:$p3", max_connections: 2, idle_timeout: 500ms }
exporters:
  file: { path: "$T/out.json", flush_interval: 20ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [syslog/keep, syslog/drop, syslog/limits], exporters: [file] }
YAML
vg_start vg "$T/c.yaml"

python3 - "$p1" "$p2" <<'PY' || fail "sending failed"
import socket, sys, time
def send(port, data, close=True):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    if close:
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    return s
p1, p2 = int(sys.argv[1]), int(sys.argv[2])
# Line framing (first byte '<'): NUL inside, invalid UTF-8, PRI <999>, 1 MiB line, then a good one.
send(p1, b"<13>1 - h a - - - k1 nul\x00inside\n<13>1 - h a - - - k2 bad \xff\xfe utf8\n"
         b"<999>1 - h a - - - k3 big pri\n" + b"k4" + b"x" * (1 << 20) + b"\n<13>1 - h a - - - k5 after\n")
# Octet counting: good, broken count, truncated frame at close.
send(p1, b"23 <13>1 - h a - - - k6 ok12x junk\n40 <13>1 - h a - - - k7 cut")
# Many connections at once, each sending garbage bytes.
import os, random
random.seed(1)
for i in range(20):
    send(p1, bytes(random.getrandbits(8) for _ in range(3000)))
# on_error: drop
send(p2, b"<999>1 - h a - - - d1 dropped\n<13>1 - h a - - - d2 kept\n\xff\xfe\n")
# still serving
send(p1, b"<13>1 - h a - - - k8 still serving\n")
PY
check() {
  python3 - "$T/out.json" <<'PY'
import sys, os
sys.path.insert(0, os.environ["VIGIL_SRC"] + "/tests/component")
import syslog_records
recs = syslog_records.load(sys.argv[1])   # strict UTF-8: raises on invalid bytes
tags = {}
for r in recs:
    b = r["body"] or ""
    for t in ("k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "d1", "d2"):
        if (" %s " % t) in b or b.startswith(t):
            tags.setdefault(t, []).append(r)
want = ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "d2"]
if any(t not in tags for t in want):
    sys.exit(1)
errs = []
def attr(t, k):
    return tags[t][0]["attrs"].get(k)
if "\ufffd" not in tags["k1"][0]["body"] or "\x00" in tags["k1"][0]["body"]:
    errs.append("k1 NUL not replaced: %r" % tags["k1"][0]["body"])
if tags["k2"][0]["body"] != "<13>1 - h a - - - k2 bad \ufffd\ufffd utf8":
    errs.append("k2 body %r" % tags["k2"][0]["body"])
if attr("k3", "syslog.parse_error") is None or tags["k3"][0]["severity"] != 0:
    errs.append("k3 not marked as a parse error: %r" % tags["k3"][0])
if len(tags["k4"][0]["body"]) != 4096 or "max_octets" not in (attr("k4", "syslog.parse_error") or ""):
    errs.append("k4 not cut at max_octets: %d %r" % (len(tags["k4"][0]["body"]), attr("k4", "syslog.parse_error")))
if attr("k5", "message") != "k5 after":
    errs.append("k5 %r" % tags["k5"][0])
if attr("k6", "message") != "k6 ok":
    errs.append("k6 %r" % tags["k6"][0])
if attr("k7", "syslog.parse_error") != "connection closed inside a frame":
    errs.append("k7 %r" % attr("k7", "syslog.parse_error"))
if "d1" in tags:
    errs.append("on_error: drop kept d1")
if errs:
    print("\n".join(errs)); sys.exit(2)
print("%d records" % len(recs))
PY
}
wait_until 30 check || { check; fail "hostile input: output wrong or incomplete"; }
ok "hostile lines kept with valid UTF-8, parse errors marked, long line cut at max_octets, still serving ($(check))"
pe=$(metric "$mport" vigil_receiver_syslog_parse_errors_total 'receiver="syslog/keep"')
tl=$(metric "$mport" vigil_receiver_syslog_too_long_total 'receiver="syslog/keep"')
fe=$(metric "$mport" vigil_receiver_syslog_framing_errors_total 'receiver="syslog/keep"')
u8=$(metric "$mport" vigil_receiver_syslog_utf8_repaired_total 'receiver="syslog/keep"')
dr=$(metric "$mport" vigil_receiver_syslog_dropped_total 'receiver="syslog/drop",reason="on_error"')
rj=$(metric "$mport" vigil_receiver_rejected_log_records 'receiver="syslog/drop"')
echo "counters: parse_errors=$pe too_long=$tl framing_errors=$fe utf8_repaired=$u8 dropped(on_error)=$dr rejected=$rj"
[ "$pe" -ge 2 ] && [ "$tl" -ge 1 ] && [ "$fe" -ge 1 ] && [ "$u8" -ge 2 ] || fail "hostile input not counted"
[ "$dr" = 2 ] && [ "$rj" = 2 ] || fail "on_error: drop not counted (dropped $dr, rejected $rj)"
ok "counted: parse errors, too long, framing errors, UTF-8 repairs, on_error drops"

# Limits: a third connection is refused; idle connections are closed.
python3 - "$p3" <<'PY' || fail "limits"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port)); b = socket.create_connection(("127.0.0.1", port))
time.sleep(0.2)
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(5)
assert c.recv(10) == b"", "third connection not closed"
t0 = time.time(); a.settimeout(5)
assert a.recv(10) == b"" and time.time() - t0 < 3, "idle connection not closed"
PY
[ "$(metric "$mport" vigil_receiver_syslog_connections_refused_total 'receiver="syslog/limits"')" -ge 1 ] || fail "refusal not counted"
[ "$(metric "$mport" vigil_receiver_syslog_idle_timeouts_total 'receiver="syslog/limits"')" -ge 1 ] || fail "idle timeout not counted"
ok "max_connections refuses and idle_timeout closes, both counted"
vg_stop vg
echo "3 passed, 0 failed"
