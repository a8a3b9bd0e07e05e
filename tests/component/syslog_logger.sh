# syslog receiver with real senders: util-linux `logger` over UDP, TCP (LF
# and octet-counted framing), a unix datagram socket and a unix stream
# socket, in RFC 5424 (with structured data) and RFC 3164 (in another time
# zone, resolved with `location`), and rsyslog from Debian forwarding with
# octet-counted framing (omfwd TCP_Framing="octet-counted", template
# RSYSLOG_SyslogProtocol23Format). Every field is checked in the file
# exporter's OTLP/JSON output.
. "$VIGIL_SRC/tests/lib.sh"
command -v logger >/dev/null || skip "logger (util-linux bsdutils) is not installed: scripts/deps.sh test"
RSYSLOGD=$(command -v rsyslogd || true)
[ -z "$RSYSLOGD" ] && [ -x /usr/sbin/rsyslogd ] && RSYSLOGD=/usr/sbin/rsyslogd
[ -n "$RSYSLOGD" ] || skip "rsyslogd (Debian package rsyslog) is not installed: scripts/deps.sh test"

p5=$(free_port); p3=$(free_port); prs_in=$(free_port); prs=$(free_port); pcap=$(free_port); mport=$(free_port)
zone=America/New_York
[ -f "/usr/share/zoneinfo/$zone" ] || zone=UTC
cat > "$T/c.yaml" <<YAML
receivers:
  syslog/r5424:
    protocol: rfc5424
    enable_octet_counting: true
    attributes: { source: logger-test }
    resource: { host.name: test-host }
    tcp: { listen_address: "127.0.0.1:$p5" }
    udp: { listen_address: "127.0.0.1:$p5" }
    unix: { path: "$T/dgram.sock" }
  syslog/r3164:
    protocol: rfc3164
    location: $zone
    tcp: { listen_address: "127.0.0.1:$p3" }
    udp: { listen_address: "127.0.0.1:$p3" }
    unix: { path: "$T/stream.sock", type: stream }
  syslog/rsyslog:
    protocol: rfc5424
    enable_octet_counting: true
    tcp: { listen_address: "127.0.0.1:$prs" }
exporters:
  file: { path: "$T/out.json", flush_interval: 20ms }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [syslog/r5424, syslog/r3164, syslog/rsyslog], exporters: [file] }
YAML
vg_start vg "$T/c.yaml"

# rsyslog: our own config, pid file and work dir; no system sockets (imuxsock
# and imklog not loaded), input on a UDP port of ours. A second action copies
# what it forwards to a capture listener, to prove the framing on the wire.
mkdir -p "$T/rs"
python3 - "$pcap" "$T/capture.raw" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4); s.settimeout(60)
with open(sys.argv[2], "wb") as out:
    c, _ = s.accept(); c.settimeout(60)
    while True:
        try:
            b = c.recv(65536)
        except OSError:
            break
        if not b:
            break
        out.write(b); out.flush()
PY
VG_PIDS+=($!)
for _ in $(seq 100); do ss -ltn 2>/dev/null | grep -q "127.0.0.1:$pcap " && break; sleep 0.05; done
cat > "$T/rs.conf" <<CONF
global(workDirectory="$T/rs" maxMessageSize="64k")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$prs_in")
*.* action(type="omfwd" target="127.0.0.1" port="$prs" protocol="tcp" TCP_Framing="octet-counted"
           template="RSYSLOG_SyslogProtocol23Format")
*.* action(type="omfwd" target="127.0.0.1" port="$pcap" protocol="tcp" TCP_Framing="octet-counted"
           template="RSYSLOG_SyslogProtocol23Format")
CONF
"$RSYSLOGD" -N1 -f "$T/rs.conf" >"$T/rs-check.log" 2>&1 || fail "rsyslog rejects the test config: $(cat "$T/rs-check.log")"
"$RSYSLOGD" -n -f "$T/rs.conf" -i "$T/rs.pid" >"$T/rsyslog.log" 2>&1 &
VG_PIDS+=($!)
rs_pid=$!
for _ in $(seq 100); do ss -lun 2>/dev/null | grep -q "127.0.0.1:$prs_in " && break; sleep 0.05; done
ss -lun | grep -q "127.0.0.1:$prs_in " || fail "rsyslogd did not start: $(cat "$T/rsyslog.log")"
# imuxsock (and imklog) are not loaded: rsyslogd must hold no unix socket (no /dev/log).
ss -xap 2>/dev/null | grep -q "pid=$rs_pid," && fail "rsyslogd opened a unix socket: $(ss -xap | grep "pid=$rs_pid,")"

host=$(hostname)
id=$RANDOM
L() { logger "$@" || fail "logger $*"; }
# RFC 5424
L --rfc5424 -T -n 127.0.0.1 -P "$p5" -t app1 --id=1001 --msgid MSG1 -p local3.warn \
  --sd-id zoo@32473 --sd-param 'tiger="hungry"' --sd-param 'q="a\"b\]c\\d"' "m1-$id tcp lf"
L --rfc5424 -T --octet-count -n 127.0.0.1 -P "$p5" -t app2 --id=1002 --msgid MSG2 -p user.emerg "m2-$id tcp octet"
L --rfc5424 -d -n 127.0.0.1 -P "$p5" -t app3 --id=1003 -p daemon.info --sd-id ex@1 --sd-param 'k="v"' "m3-$id udp"
L --rfc5424 -u "$T/dgram.sock" -t app4 --id=1004 --msgid MSG4 -p auth.crit "m4-$id unix dgram"
# RFC 3164, local time of another zone
TZ=$zone L --rfc3164 -T -n 127.0.0.1 -P "$p3" -t app5 --id=1005 -p user.err "m5-$id tcp"
TZ=$zone L --rfc3164 -d -n 127.0.0.1 -P "$p3" -t app6 --id=1006 -p mail.notice "m6-$id udp"
TZ=$zone L --rfc3164 -u "$T/stream.sock" -t app7 --id=1007 -p local7.debug "m7-$id unix stream"
# rsyslog: 5424 and 3164 in, octet-counted 5424 out
L --rfc5424 -d -n 127.0.0.1 -P "$prs_in" -t rsapp --id=555 --msgid RSID -p local0.err \
  --sd-id ex@1 --sd-param 'k="v w"' "m8-$id via rsyslog"
L --rfc3164 -d -n 127.0.0.1 -P "$prs_in" -t rsold --id=556 -p local1.alert "m9-$id via rsyslog 3164"

check() {
  python3 - "$T/out.json" "$id" "$host" "$@" <<'PY'
import sys, time
sys.path.insert(0, __import__("os").environ["VIGIL_SRC"] + "/tests/component")
import syslog_records
path, rid, host = sys.argv[1], sys.argv[2], sys.argv[3]
final = len(sys.argv) > 4
recs = syslog_records.load(path)
by = {}
for r in recs:
    m = (r["attrs"].get("message") or "").lstrip(" ")
    for k in range(1, 10):
        if m.startswith("m%d-%s " % (k, rid)):
            by.setdefault(k, []).append(r)
if not final:
    sys.exit(0 if len(by) == 9 else 1)
errs = []
def eq(k, what, got, want):
    if got != want:
        errs.append("m%d %s: got %r, want %r" % (k, what, got, want))
for k in range(1, 10):
    if len(by.get(k, [])) != 1:
        errs.append("m%d arrived %d times" % (k, len(by.get(k, []))))
if errs:
    print("\n".join(errs)); sys.exit(1)
now = time.time_ns()
SEV = {0: (21, "emerg"), 1: (19, "alert"), 2: (18, "crit"), 3: (17, "err"), 4: (13, "warning"),
       5: (10, "notice"), 6: (9, "info"), 7: (5, "debug")}
def common(k, pri, app, pid, transport, msg, msgid=None, version=1, sd=None, host_=host):
    r = by[k][0]; a = r["attrs"]
    eq(k, "priority", a.get("priority"), pri)
    eq(k, "facility", a.get("facility"), pri // 8)
    eq(k, "severity", (r["severity"], r["severity_text"]), SEV[pri % 8])
    eq(k, "appname", a.get("appname"), app)
    eq(k, "proc_id", a.get("proc_id"), pid)
    eq(k, "hostname", a.get("hostname"), host_)
    eq(k, "msg_id", a.get("msg_id"), msgid)
    eq(k, "version", a.get("version"), version)
    eq(k, "message", a.get("message"), msg)
    eq(k, "network.transport", a.get("network.transport"), transport)
    eq(k, "parse error", a.get("syslog.parse_error"), None)
    if sd is not None:
        eq(k, "structured_data", a.get("structured_data"), sd)
    if abs(r["time"] - now) > 300e9:
        errs.append("m%d time %d is not within 5 min of now %d" % (k, r["time"], now))
    if not (0 < now - r["observed"] < 300e9):
        errs.append("m%d observed time %d is off" % (k, r["observed"]))
    if msg not in r["body"] or not r["body"].startswith("<%d>" % pri):
        errs.append("m%d body %r" % (k, r["body"]))
    if transport in ("tcp", "udp"):
        eq(k, "net.peer.ip", a.get("net.peer.ip"), "127.0.0.1")
        eq(k, "network.peer.address", a.get("network.peer.address"), "127.0.0.1")
        if not isinstance(a.get("network.peer.port"), int) or a["network.peer.port"] <= 0:
            errs.append("m%d network.peer.port %r" % (k, a.get("network.peer.port")))
        eq(k, "net.peer.port", a.get("net.peer.port"), str(a.get("network.peer.port")))
    else:
        if not (isinstance(a.get("unix.peer.pid"), int) and a["unix.peer.pid"] > 0):
            errs.append("m%d unix.peer.pid %r" % (k, a.get("unix.peer.pid")))
        eq(k, "unix.peer.uid", a.get("unix.peer.uid"), __import__("os").getuid())
    return a
tq = {"tzKnown": "1", "isSynced": "0"}
common(1, 19 * 8 + 4, "app1", "1001", "tcp", "m1-%s tcp lf" % rid, "MSG1",
       sd={"timeQuality": tq, "zoo@32473": {"tiger": "hungry", "q": 'a"b]c\\d'}})
eq(1, "attributes label", by[1][0]["attrs"].get("source"), "logger-test")
eq(1, "resource label", by[1][0]["resource"].get("host.name"), "test-host")
eq(5, "no label from another receiver", by[5][0]["attrs"].get("source"), None)
common(2, 8, "app2", "1002", "tcp", "m2-%s tcp octet" % rid, "MSG2", sd={"timeQuality": tq})
common(3, 3 * 8 + 6, "app3", "1003", "udp", "m3-%s udp" % rid, sd={"timeQuality": tq, "ex@1": {"k": "v"}})
common(4, 4 * 8 + 2, "app4", "1004", "unix", "m4-%s unix dgram" % rid, "MSG4", sd={"timeQuality": tq})
for k, pri, app, pid, tr, text in ((5, 8 + 3, "app5", "1005", "tcp", "tcp"), (6, 2 * 8 + 5, "app6", "1006", "udp", "udp"),
                                   (7, 23 * 8 + 7, "app7", "1007", "unix", "unix stream")):
    a = common(k, pri, app, pid, tr, "m%d-%s %s" % (k, rid, text), version=None)
    if "structured_data" in a:
        errs.append("m%d: 3164 message has structured_data" % k)
a = common(8, 16 * 8 + 3, "rsapp", "555", "tcp", "m8-%s via rsyslog" % rid, "RSID",
           sd={"timeQuality": tq, "ex@1": {"k": "v w"}})
# rsyslog's %msg% of a 3164 message keeps the space after the tag's colon.
common(9, 17 * 8 + 1, "rsold", "556", "tcp", " m9-%s via rsyslog 3164" % rid, None, sd=None)
if errs:
    print("\n".join(errs)); sys.exit(1)
print("checked %d records" % len(recs))
PY
}
wait_until 20 check || { check final; fail "not every message arrived"; }
out=$(check final) || { echo "$out"; fail "fields differ"; }
ok "logger over tcp (LF and octet-counted), udp, unix dgram and unix stream, rfc5424 and rfc3164: every field ($out)"

# rsyslog really framed with octet counting.
python3 - "$T/capture.raw" "$id" <<'PY' || fail "rsyslog did not send octet-counted frames"
import re, sys
raw = open(sys.argv[1], "rb").read()
frames, i = [], 0
while i < len(raw):
    m = re.match(rb"([1-9][0-9]*) ", raw[i:])
    if not m:
        sys.exit("not octet-counted at byte %d: %r" % (i, raw[i:i + 40]))
    n = int(m.group(1)); start = i + m.end()
    frames.append(raw[start:start + n]); i = start + n
assert any(("m8-%s" % sys.argv[2]).encode() in f for f in frames), frames
PY
ok "rsyslog forwarded with octet-counted framing (RSYSLOG_SyslogProtocol23Format)"

[ "$(metric "$mport" vigil_receiver_syslog_parse_errors_total)" = 0 ] || fail "parse errors counted"
[ "$(metric "$mport" vigil_receiver_refused_log_records)" = 0 ] || fail "refused counted"
kill "$rs_pid" 2>/dev/null || true
vg_stop vg
[ -e "$T/dgram.sock" ] && fail "unix socket file left behind"
ok "clean shutdown, socket files removed"
echo "3 passed, 0 failed"
