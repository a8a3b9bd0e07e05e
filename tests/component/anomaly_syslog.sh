# anomaly processor and connector on syslog: util-linux `logger` sends RFC 3164
# over TCP to the syslog receiver (this host, tags sshd and kernel), a second
# sender (python, UDP) speaks for host web2. The logs go through the anomaly
# processor (anomaly.score on every record, written to a file) into the
# anomaly connector, whose events go to another file. After a warm-up of
# ordinary sshd traffic from both hosts (no event may appear):
#   (4a) a burst of 200 failed-login lines from this host (varying users,
#        addresses and ports: one template) -> a log.rate event naming this
#        host, and no template event (the miner masked the variable parts);
#        the burst's records score high, web2's stay low;
#   (4b) a never-seen message template -> a log.template event with the
#        masked template, and that record scores 1.
# One run, well under 60 s.
. "$VIGIL_SRC/tests/lib.sh"

"$VIGIL_BIN" components > "$T/components" || fail "vigil components failed"
grep -q '^receiver syslog ' "$T/components" || skip "syslog receiver not built yet"
command -v logger >/dev/null || skip "logger (util-linux bsdutils) is not installed: scripts/deps.sh test"
command -v python3 >/dev/null || skip "python3 is needed"
EVPY="$VIGIL_SRC/tests/component/anomaly_events.py"
HOST=$(hostname)

p=$(free_port)
port=$(free_port)
cat > "$T/c.yaml" <<YAML
receivers:
  syslog:
    protocol: rfc3164
    tcp: { listen_address: "127.0.0.1:$p" }
    udp: { listen_address: "127.0.0.1:$p" }
processors:
  anomaly:
    warmup: 5
    logs: { template_warmup: 20 }
connectors:
  anomaly:
    warmup: 5
    logs: { template_warmup: 20 }
exporters:
  file/scored: { path: $T/scored.json }
  file/events: { path: $T/events.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$port" } }
  pipelines:
    logs/in: { receivers: [syslog], processors: [anomaly], exporters: [file/scored, anomaly] }
    logs/anomaly: { receivers: [anomaly], exporters: [file/events] }
YAML
vg_start c "$T/c.yaml"

send() { logger --tcp -n 127.0.0.1 -P "$p" --rfc3164 "$@"; }
web2() { # MESSAGE: from host web2 over UDP
  python3 - "$p" "$1" <<'PY'
import socket, sys, time
msg = "<38>%s web2 sshd[812]: %s" % (time.strftime("%b %d %H:%M:%S"), sys.argv[2])
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(msg.encode(), ("127.0.0.1", int(sys.argv[1])))
PY
}
normal=(
  "Accepted publickey for deploy from 10.0.0.5 port 50022 ssh2: ED25519 SHA256:x1y2z3"
  "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"
  "Failed password for invalid user guest from 10.0.0.9 port 40001 ssh2"
  "Connection closed by 10.0.0.7 port 40000 [preauth]"
)
# Warm-up: ~10 s of ordinary traffic, 2 lines a second from each host.
for i in $(seq 0 19); do
  send -t sshd -p auth.info "${normal[$((i % 4))]}"
  web2 "${normal[$(((i + 1) % 4))]}"
  sleep 0.5
done
wait_metric 10 "$port" vigil_receiver_accepted_log_records 40 || fail "syslog lines did not arrive"
sleep 1.2
python3 "$EVPY" events "$T/events.json" --none || fail "events during ordinary traffic"
ok "ordinary traffic from two hosts: no event"

# (4a) a burst of failed logins from this host, while web2 goes on as before.
python3 - > "$T/burst.txt" <<'PY'
import random
random.seed(7)
users = ["admin", "oracle", "test", "ubuntu", "postgres", "git", "pi", "user", "ftp", "support"]
for i in range(200):
    print("Failed password for invalid user %s from 203.0.113.%d port %d ssh2"
          % (random.choice(users), random.randint(1, 254), random.randint(30000, 60000)))
PY
GO=$(date +%s%N)
send -t sshd -p auth.warning -f "$T/burst.txt"
web2 "${normal[0]}"
wait_until 5 python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.rate --res hostname="$HOST" \
  >/dev/null || { python3 "$EVPY" events "$T/events.json"; fail "no log-rate event for the burst from $HOST"; }
python3 "$EVPY" events "$T/events.json"
lat=$(( ($(python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.rate --first-ns) - GO) / 1000000 ))
python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.rate --res hostname="$HOST" \
  --body "host $HOST (sshd): " --body " log records in 1 s, expected" >/dev/null || fail "the event text"
python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.rate --res hostname=web2 --none >/dev/null ||
  fail "a rate event for web2, which did not change"
python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.template --none >/dev/null ||
  fail "the failed-login burst was taken for new templates"
ok "(4a) failed-login burst: a log.rate event naming host $HOST after $lat ms, none for web2, no template event"
wait_metric 5 "$port" vigil_receiver_accepted_log_records 241 || fail "the burst did not arrive"
sleep 0.3
python3 "$EVPY" logs "$T/scored.json" > "$T/scores"
high=$(awk -v h="$HOST" '$1 == h && $5 == "Failed" && $3 + 0 >= 0.7' "$T/scores" | wc -l)
web2max=$(awk '$1 == "web2" { if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }' "$T/scores")
echo "burst records scoring >= 0.7: $high of 200; highest web2 score: $web2max"
[ "$high" -ge 100 ] || fail "only $high burst records scored high"
awk -v m="$web2max" 'BEGIN { exit !(m < 0.7) }' || fail "web2 records scored $web2max"
ok "(4a) processor: burst records carry anomaly.score >= 0.7, web2's stay below"

# (4b) a message of a kind never seen before.
send -t kernel -p kern.crit "BUG: unable to handle page fault for address: ffff8881deadbeef at ip 0xffffffff81234567"
wait_until 5 python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.template >/dev/null ||
  fail "no event for a never-seen template"
python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.template
python3 "$EVPY" events "$T/events.json" --attr anomaly.detector=log.template --res hostname="$HOST" \
  --res appname=kernel --body "host $HOST (kernel): never-seen log message: BUG: unable to handle page fault for address: <HEX> at ip <HEX>" \
  >/dev/null || fail "the template event text"
sleep 0.3
python3 "$EVPY" logs "$T/scored.json" | awk -v h="$HOST" '$1 == h && $2 == "kernel" && $3 + 0 == 1 && $5 == "BUG:" { f = 1 }
  END { exit !f }' || fail "the new message did not score 1"
ok "(4b) never-seen template: a log.template event with the masked template; the record scored 1"
vg_stop c
grep -q 'level=error' "$T/c.log" && fail "errors in the log"
echo "5 passed, 0 failed"
