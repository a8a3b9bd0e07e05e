#!/usr/bin/env python3
"""Checks for otlp_sdk_receive.sh. Usage:

  otlp_sdk_receive_check.py normalize IN OUT
      Rewrites OTLP/JSON lines so that two encoders' spellings of the same
      value compare equal: bucketCounts (repeated uint64) as numbers. The JS
      SDK writes them as numbers, Vigil as decimal strings (both valid
      OTLP/JSON); tests/otlp_items.py does the rest of the canonicalisation.

  otlp_sdk_receive_check.py rich FILE RUNS
      Asserts that FILE (what Vigil wrote) holds the rich data the SDK script
      sends, for each of RUNS (comma-separated test.run tags): every span kind,
      an error status with its message, events with attributes and times,
      links with trace state, nanosecond timestamps, attributes of every value
      type (string, bool, int, double, array, kvlist, bytes), resources and
      scopes with version and schema URL, log severity/body/trace context,
      and gauge, sum (monotonic and not), histogram and exponential histogram
      points with their buckets."""
import json, sys


def fix(v, key=None):
    if isinstance(v, dict):
        return {k: fix(x, k) for k, x in v.items()}
    if isinstance(v, list):
        if key in ("bucketCounts", "bucket_counts"):
            return [int(x) for x in v]
        return [fix(x) for x in v]
    return v


def normalize(src, dst):
    with open(src) as f, open(dst, "w") as o:
        for line in f:
            if line.strip():
                o.write(json.dumps(fix(json.loads(line))) + "\n")


def value_types(v, seen):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"):
                seen.add(k)
            value_types(x, seen)
    elif isinstance(v, list):
        for x in v:
            value_types(x, seen)


def attrs(lst):
    return {a["key"]: a.get("value", {}) for a in lst or []}


def rich(path, runs):
    reqs = [json.loads(l) for l in open(path) if l.strip()]
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    for run in runs:
        def mine(res):
            return attrs(res.get("resource", {}).get("attributes")).get("test.run") == {"stringValue": run}
        spans, points, logs, scopes = [], {}, [], []
        types = set()
        for r in reqs:
            for rs in r.get("resourceSpans", []):
                if not mine(rs):
                    continue
                value_types(rs, types)
                res = attrs(rs["resource"]["attributes"])
                need(res.get("host.cpu.count") in ({"intValue": "8"}, {"intValue": 8}), run + ": resource int attribute")
                need(res.get("host.load") == {"doubleValue": 0.75}, run + ": resource double attribute")
                for ss in rs.get("scopeSpans", []):
                    scopes.append((ss.get("scope", {}), ss.get("schemaUrl")))
                    spans += ss.get("spans", [])
            for rm in r.get("resourceMetrics", []):
                if not mine(rm):
                    continue
                for sm in rm.get("scopeMetrics", []):
                    scopes.append((sm.get("scope", {}), sm.get("schemaUrl")))
                    for m in sm.get("metrics", []):
                        for kind in ("gauge", "sum", "histogram", "exponentialHistogram"):
                            if kind in m:
                                points.setdefault(m["name"], (kind, m[kind], m.get("unit", "")))
            for rl in r.get("resourceLogs", []):
                if not mine(rl):
                    continue
                value_types(rl, types)
                for sl in rl.get("scopeLogs", []):
                    scopes.append((sl.get("scope", {}), sl.get("schemaUrl")))
                    logs += sl.get("logRecords", [])
        # traces
        need(len(spans) == 5, "%s: %d spans, wanted 5" % (run, len(spans)))
        need({s.get("kind") for s in spans} == {1, 2, 3, 4, 5}, run + ": span kinds 1..5")
        by = {s["name"]: s for s in spans}
        root, child = by.get("GET /checkout", {}), by.get("SELECT orders", {})
        need(root.get("startTimeUnixNano") == "1700000000123456789", run + ": root start time to the nanosecond")
        need(root.get("endTimeUnixNano") == "1700000003999999999", run + ": root end time")
        need(len(root.get("traceId", "")) == 32 and len(root.get("spanId", "")) == 16, run + ": ids")
        need(child.get("parentSpanId") == root.get("spanId") and child.get("traceId") == root.get("traceId"),
             run + ": parent/child ids")
        need(child.get("status") == {"code": 2, "message": "deadlock detected"}, run + ": error status")
        ev = child.get("events", [])
        need([e["name"] for e in ev] == ["cache miss", "retry"], run + ": events")
        need(ev and ev[0].get("timeUnixNano") == "1700000000250000000", run + ": event time")
        need(ev and attrs(ev[0].get("attributes")).get("cache.hit_ratio") == {"doubleValue": 0.125}, run + ": event attrs")
        lk = child.get("links", [])
        need(len(lk) == 1 and lk[0].get("traceId") == "0af7651916cd43dd8448eb211c80319c" and
             lk[0].get("spanId") == "b7ad6b7169203331" and lk[0].get("traceState") == "vendor=value", run + ": link")
        ra = attrs(root.get("attributes"))
        need(ra.get("http.ok") == {"boolValue": True}, run + ": bool attribute")
        need(ra.get("http.duration") == {"doubleValue": 12.5}, run + ": double attribute")
        need(ra.get("unicode") == {"stringValue": "naïve ✓ 日本"}, run + ": UTF-8 attribute")
        need(ra.get("ports") == {"arrayValue": {"values": [{"intValue": "80"}, {"intValue": "443"}]}}, run + ": int array")
        need(attrs(child.get("attributes")).get("db.rows") == {"intValue": "-42"}, run + ": negative int")
        need(by.get("kind-0", {}).get("status") == {"code": 1}, run + ": OK status")  # api INTERNAL = 0
        # metrics
        for name, kind in (("requests", "sum"), ("bytes", "sum"), ("inflight", "sum"), ("temperature", "gauge"),
                           ("queue.depth", "gauge"), ("latency", "histogram"), ("latency.exp", "exponentialHistogram")):
            need(name in points and points[name][0] == kind, "%s: metric %s as %s" % (run, name, kind))
        if "requests" in points:
            need(points["requests"][1].get("isMonotonic") is True, run + ": monotonic sum")
        if "inflight" in points:
            need(not points["inflight"][1].get("isMonotonic") and
                 points["inflight"][1]["dataPoints"][0].get("asDouble", points["inflight"][1]["dataPoints"][0].get("asInt"))
                 in (-2, "-2"), run + ": up-down sum")
        if "latency" in points:
            dp = points["latency"][1]["dataPoints"][0]
            need(dp.get("bucketCounts") == ["1", "2", "1", "1", "2"] and dp.get("explicitBounds") == [1, 5, 10, 50]
                 and dp.get("count") == "7" and dp.get("sum") == 1124.5 and dp.get("min") == 0.5
                 and dp.get("max") == 1000, run + ": histogram point")
        if "latency.exp" in points:
            dp = points["latency.exp"][1]["dataPoints"][0]
            need(dp.get("zeroCount") == "1" and dp.get("positive", {}).get("bucketCounts") and
                 "offset" in dp.get("positive", {}), run + ": exponential histogram buckets")
        if "temperature" in points:
            vals = sorted(p.get("asDouble", p.get("asInt")) for p in points["temperature"][1]["dataPoints"])
            need(vals in ([-3, 21.25], ["-3", 21.25], [-3.0, 21.25]), run + ": gauge values %s" % vals)
        # logs
        need(len(logs) == 4, "%s: %d log records, wanted 4" % (run, len(logs)))
        err = [l for l in logs if l.get("severityText") == "ERROR"]
        need(len(err) == 1, run + ": ERROR record")
        if err:
            e = err[0]
            need(e.get("severityNumber") == 17 and e.get("timeUnixNano") == "1700000010000000001" and
                 e.get("observedTimeUnixNano") == "1700000010000000002", run + ": severity and times")
            need(e.get("traceId") == "4bf92f3577b34da6a3ce929d0e0e4736" and e.get("spanId") == "00f067aa0ba902b7",
                 run + ": log trace context")
            body = attrs(e.get("body", {}).get("kvlistValue", {}).get("values"))
            need(body.get("raw") == {"bytesValue": "AAEC/f7/"}, run + ": bytes in body")
            need("kvlistValue" in body.get("detail", {}), run + ": nested kvlist in body")
            la = attrs(e.get("attributes"))
            need(la.get("blob") == {"bytesValue": "3q2+7w=="}, run + ": bytes attribute")
            need("kvlistValue" in la.get("ctx", {}), run + ": kvlist attribute")
        need(any(l.get("eventName") == "app.crash" and l.get("severityNumber") == 24 for l in logs), run + ": event name")
        need(types >= {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue",
                       "bytesValue"}, run + ": value types seen: %s" % sorted(types))
        for sc, url in scopes:
            need(sc.get("name", "").startswith("vigil.interop.") and sc.get("version") and
                 url == "https://opentelemetry.io/schemas/1.21.0", run + ": scope %s / %s" % (sc, url))
    problems = [p for p in problems if p]
    for p in problems:
        print("missing or wrong:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "normalize":
        normalize(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "rich":
        sys.exit(rich(sys.argv[2], sys.argv[3].split(",")))
    else:
        sys.exit(__doc__)
