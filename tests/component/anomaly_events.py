#!/usr/bin/env python3
"""Reads OTLP/JSON lines written by the file exporter and lists what the
anomaly components produced. Used by tests/component/anomaly_*.sh.

  anomaly_events.py events FILE [filters]   one line per anomaly event (event.name
                                            vigil.anomaly); exit 0 if any matched
      --res KEY=VALUE      resource attribute equals
      --attr KEY=VALUE     record attribute equals (anomaly.state=open, ...)
      --body TEXT          body contains TEXT
      --after NS           observed time at or after NS
      --none               exit 0 only if nothing matched
      --first-ns           print only the observed time of the earliest match
  anomaly_events.py spans FILE SERVICE      "end_ns duration_ms score" per span of SERVICE
  anomaly_events.py logs FILE               "hostname appname score | message" per log record
"""
import json
import sys


def attrs(kvs):
    out = {}
    for kv in kvs or []:
        v = kv.get("value", {})
        for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if k in v:
                out[kv["key"]] = v[k]
                break
    return out


def lines(path):
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        pass  # a line being written
    except FileNotFoundError:
        return


def events(path):
    for req in lines(path):
        for rl in req.get("resourceLogs", []):
            res = attrs(rl.get("resource", {}).get("attributes"))
            for sl in rl.get("scopeLogs", []):
                for lr in sl.get("logRecords", []):
                    a = attrs(lr.get("attributes"))
                    if a.get("event.name") != "vigil.anomaly":
                        continue
                    yield {
                        "observed": int(lr.get("observedTimeUnixNano", 0) or 0),
                        "time": int(lr.get("timeUnixNano", 0) or 0),
                        "severity": lr.get("severityText", ""),
                        "event_name": lr.get("eventName", ""),
                        "body": lr.get("body", {}).get("stringValue", ""),
                        "attrs": a,
                        "res": res,
                    }


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "spans":
        svc = sys.argv[3]
        for req in lines(path):
            for rs in req.get("resourceSpans", []):
                if attrs(rs.get("resource", {}).get("attributes")).get("service.name") != svc:
                    continue
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        a = attrs(sp.get("attributes"))
                        end, start = int(sp["endTimeUnixNano"]), int(sp["startTimeUnixNano"])
                        print(end, (end - start) / 1e6, a.get("anomaly.score", "none"))
        return 0
    if cmd == "logs":
        for req in lines(path):
            for rl in req.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for lr in sl.get("logRecords", []):
                        a = attrs(lr.get("attributes"))
                        print(a.get("hostname", "-"), a.get("appname", "-"), a.get("anomaly.score", "none"), "|",
                              a.get("message", lr.get("body", {}).get("stringValue", "")))
        return 0
    res, att, body, after, none, first = [], [], [], 0, False, False
    args = sys.argv[3:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--none":
            none = True
        elif a == "--first-ns":
            first = True
        else:
            v = args[i + 1]
            i += 1
            if a == "--res":
                res.append(v.split("=", 1))
            elif a == "--attr":
                att.append(v.split("=", 1))
            elif a == "--body":
                body.append(v)
            elif a == "--after":
                after = int(v)
        i += 1
    found = []
    for e in events(path):
        if e["observed"] < after:
            continue
        if any(str(e["res"].get(k)) != v for k, v in res):
            continue
        if any(str(e["attrs"].get(k)) != v for k, v in att):
            continue
        if any(b not in e["body"] for b in body):
            continue
        found.append(e)
    if first:
        if found:
            print(min(e["observed"] for e in found))
    else:
        for e in found:
            print("%d %s %s/%s score=%.2f event_name=%s | %s" % (
                e["observed"], e["severity"], e["attrs"].get("anomaly.detector"), e["attrs"].get("anomaly.state"),
                float(e["attrs"].get("anomaly.score", 0)), e["event_name"], e["body"]))
    if none:
        return 0 if not found else 1
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
