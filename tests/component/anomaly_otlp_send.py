#!/usr/bin/env python3
"""Posts OTLP/JSON traces to an OTLP/HTTP receiver for anomaly_spans.sh.

  anomaly_otlp_send.py URL SECONDS SLOW_FACTOR
Every 0.2 s one request with 3 spans of service "checkout" (span "GET /cart",
~20 ms, lognormal jitter 10%) and 3 of service "catalog" ("GET /items",
~30 ms); checkout's durations are multiplied by SLOW_FACTOR. Prints the time
(ns) of the first request sent."""
import json
import math
import os
import random
import sys
import time
import urllib.request


def span(name, dur_ms, end_ns, i):
    return {
        "traceId": os.urandom(16).hex(),
        "spanId": os.urandom(8).hex(),
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(end_ns - int(dur_ms * 1e6)),
        "endTimeUnixNano": str(end_ns),
        "attributes": [{"key": "http.request.method", "value": {"stringValue": "GET"}}],
        "status": {},
    }


def main():
    url, seconds, factor = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    rnd = random.Random(11)
    t_end = time.time() + seconds
    first = None
    while time.time() < t_end:
        now = time.time_ns()
        first = first or now
        body = {"resourceSpans": []}
        for svc, name, ms, f in (("checkout", "GET /cart", 20.0, factor), ("catalog", "GET /items", 30.0, 1.0)):
            spans = [span(name, ms * f * math.exp(0.1 * rnd.gauss(0, 1)), now - (2 - i) * 1000000, i)
                     for i in range(3)]
            body["resourceSpans"].append({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"scope": {"name": "anomaly-test"}, "spans": spans}],
            })
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status != 200:
                print("HTTP %d" % r.status, file=sys.stderr)
                return 1
        time.sleep(0.2)
    print(first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
