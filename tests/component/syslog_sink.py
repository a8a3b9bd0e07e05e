"""An OTLP/HTTP logs endpoint for tests/component/syslog_backpressure.sh.

    python3 syslog_sink.py PORT BLOCK_FILE

POST /v1/logs (JSON, or protobuf-free gzip JSON): while BLOCK_FILE exists the
answer is 503 (retryable: the exporter keeps the request and retries), else
the log records are counted and the "seq=N" numbers in their bodies are
recorded; 200 with an empty ExportLogsServiceResponse.
GET /stats: {"records": total received, "unique": distinct seqs, "dups": n,
"max": highest seq, "blocked_answers": 503s sent}."""
import gzip
import http.server
import json
import os
import re
import sys
import threading

PORT, BLOCK = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
seen = set()
state = {"records": 0, "dups": 0, "max": -1, "blocked_answers": 0}
SEQ = re.compile(r"seq=(\d+)")


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            out = dict(state, unique=len(seen))
        self.reply(200, json.dumps(out).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if os.path.exists(BLOCK):
            with lock:
                state["blocked_answers"] += 1
            self.reply(503, b'{"code":14,"message":"blocked by the test"}')
            return
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        doc = json.loads(body)
        with lock:
            for rl in doc.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for r in sl.get("logRecords", []):
                        state["records"] += 1
                        m = SEQ.search(r.get("body", {}).get("stringValue", ""))
                        if not m:
                            continue
                        s = int(m.group(1))
                        if s in seen:
                            state["dups"] += 1
                        seen.add(s)
                        state["max"] = max(state["max"], s)
        self.reply(200, b"{}")


http.server.ThreadingHTTPServer.daemon_threads = True
srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H)
print("listening", flush=True)
srv.serve_forever()
