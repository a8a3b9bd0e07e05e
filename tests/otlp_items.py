#!/usr/bin/env python3
"""Flatten OTLP/JSON lines into one canonical JSON text per item (span, metric
data point, log record), each with its resource and scope, so two files can be
compared item for item whatever the batching. Usage:

  otlp_items.py FILE...            print the sorted canonical items
  otlp_items.py --compare A B      exit 0 if A and B hold the same items (as multisets)
  otlp_items.py --count FILE...    print spans, points and log records
A file may be zstd-compressed (needs the zstd command)."""
import json, subprocess, sys

SNAKE = {}
KEEP = {"asInt", "asDouble", "stringValue", "boolValue", "intValue", "doubleValue", "bytesValue",
        "arrayValue", "kvlistValue", "value", "key"}


def camel(k):
    if "_" not in k:
        return k
    parts = k.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def canon(v, key=None):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            k = camel(k)
            c = canon(x, k)
            if k not in KEEP and c in (0, "", [], {}, False, None, "0"):
                continue
            out[k] = c
        return out
    if isinstance(v, list):
        return [canon(x) for x in v]
    if isinstance(v, str):
        if key in ("traceId", "spanId", "parentSpanId"):
            return v.lower()
        if key in ("timeUnixNano", "startTimeUnixNano", "endTimeUnixNano", "observedTimeUnixNano", "asInt",
                   "intValue", "count", "zeroCount") and v.lstrip("-").isdigit():
            return int(v)
        return v
    if isinstance(v, float) and v.is_integer() and key not in ("asDouble", "doubleValue", "sum", "min", "max",
                                                                "value", "zeroThreshold"):
        return int(v)
    return v


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x28\xb5\x2f\xfd":
        data = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


POINT_KINDS = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"]


def items(paths):
    out = []
    for p in paths:
        for req in read_lines(p):
            req = {camel(k): v for k, v in req.items()}
            for rs in req.get("resourceSpans", []):
                res = canon(rs.get("resource", {}))
                for ss in rs.get("scopeSpans", rs.get("scope_spans", [])):
                    sc = canon(ss.get("scope", {}))
                    for sp in ss.get("spans", []):
                        out.append(("span", json.dumps([res, rs.get("schemaUrl", ""), sc, ss.get("schemaUrl", ""),
                                                        canon(sp)], sort_keys=True)))
            for rm in req.get("resourceMetrics", []):
                res = canon(rm.get("resource", {}))
                for sm in rm.get("scopeMetrics", rm.get("scope_metrics", [])):
                    sc = canon(sm.get("scope", {}))
                    for m in sm.get("metrics", []):
                        m = {camel(k): v for k, v in m.items()}
                        for kind in POINT_KINDS:
                            if kind not in m:
                                continue
                            body = {k: v for k, v in m[kind].items() if camel(k) != "dataPoints"}
                            meta = {k: v for k, v in m.items() if k not in POINT_KINDS}
                            for dp in m[kind].get("dataPoints", m[kind].get("data_points", [])):
                                out.append(("point", json.dumps([res, sc, canon(meta), kind, canon(body), canon(dp)],
                                                                sort_keys=True)))
            for rl in req.get("resourceLogs", []):
                res = canon(rl.get("resource", {}))
                for sl in rl.get("scopeLogs", rl.get("scope_logs", [])):
                    sc = canon(sl.get("scope", {}))
                    for lr in sl.get("logRecords", sl.get("log_records", [])):
                        out.append(("log", json.dumps([res, sc, canon(lr)], sort_keys=True)))
    return sorted(out)


def main(argv):
    if argv[:1] == ["--compare"]:
        a, b = items([argv[1]]), items([argv[2]])
        if a == b:
            print(f"same {len(a)} items")
            return 0
        sa, sb = set(a), set(b)
        print(f"DIFFERENT: {len(a)} vs {len(b)} items")
        for x in sorted(sa - sb)[:3]:
            print("only in", argv[1], x)
        for x in sorted(sb - sa)[:3]:
            print("only in", argv[2], x)
        return 1
    if argv[:1] == ["--count"]:
        it = items(argv[1:])
        print(sum(1 for k, _ in it if k == "span"), sum(1 for k, _ in it if k == "point"),
              sum(1 for k, _ in it if k == "log"))
        return 0
    for k, v in items(argv):
        print(k, v)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
