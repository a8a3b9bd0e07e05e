"""A TCP syslog sender that notices when it is throttled, for
tests/component/syslog_backpressure.sh.

    python3 syslog_flood.py PORT COUNT STATUS_FILE [STALL_SECONDS]

Sends COUNT RFC 5424 lines ("... seq=N ...", newline framing) over one
connection with a non-blocking socket and a small SO_SNDBUF. When no byte
can be written for STALL_SECONDS (default 2) it appends "STALLED sent=K" to
STATUS_FILE (K = lines completely written), keeps waiting, appends
"RESUMED" once writes move again, and "DONE sent=COUNT" at the end."""
import select
import socket
import sys
import time

port, count, status = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stall_after = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0


def note(text):
    with open(status, "a") as f:
        f.write(text + "\n")


pad = "x" * 60
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
s.connect(("127.0.0.1", port))
s.setblocking(False)
buf = bytearray()
seq = 0
stalled = False
last_progress = time.monotonic()
while seq < count or buf:
    while seq < count and len(buf) < 65536:
        line = "<14>1 2026-01-01T00:00:00.000Z flood-host flood 42 FLOOD - seq=%d %s\n" % (seq, pad)
        buf += line.encode()
        seq += 1
    try:
        n = s.send(buf)
    except BlockingIOError:
        n = 0
    if n:
        del buf[:n]
        last_progress = time.monotonic()
        if stalled:
            note("RESUMED")
            stalled = False
        continue
    if not stalled and time.monotonic() - last_progress >= stall_after:
        # Lines completely written: those before the unwritten bytes still in buf.
        unsent_lines = buf.count(b"\n")
        note("STALLED sent=%d" % (seq - unsent_lines))
        stalled = True
    select.select([], [s], [], 0.1)
s.setblocking(True)
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
s.close()
note("DONE sent=%d" % count)
