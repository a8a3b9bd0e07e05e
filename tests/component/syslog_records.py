"""Log records from OTLP/JSON lines (the file exporter's output), flattened for
the syslog component tests.

    python3 syslog_records.py FILE            prints one JSON record per line
    import syslog_records; syslog_records.load(FILE) -> [record, ...]

A record is a dict: body, time (ns, int), observed (ns, int), severity (int),
severity_text, attrs (key -> value: str, int, or dict for kvlists), resource
(the resource's attributes, same form)."""
import json
import sys


def value(v):
    if v is None:
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    if "kvlistValue" in v:
        return {kv["key"]: value(kv.get("value")) for kv in v["kvlistValue"].get("values", [])}
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", [])]
    return None


def load(path):
    out = []
    with open(path, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            # Strict: the exporter must never write invalid UTF-8.
            doc = json.loads(raw.decode("utf-8", errors="strict"))
            for rl in doc.get("resourceLogs", []):
                res = {kv["key"]: value(kv.get("value")) for kv in rl.get("resource", {}).get("attributes", [])}
                for sl in rl.get("scopeLogs", []):
                    for r in sl.get("logRecords", []):
                        attrs = {}
                        for kv in r.get("attributes", []):
                            if kv["key"] in attrs:
                                raise ValueError("duplicate attribute %s" % kv["key"])
                            attrs[kv["key"]] = value(kv.get("value"))
                        out.append({
                            "body": value(r.get("body")),
                            "time": int(r.get("timeUnixNano", 0)),
                            "observed": int(r.get("observedTimeUnixNano", 0)),
                            "severity": int(r.get("severityNumber", 0)),
                            "severity_text": r.get("severityText", ""),
                            "attrs": attrs,
                            "resource": res,
                        })
    return out


if __name__ == "__main__":
    for rec in load(sys.argv[1]):
        print(json.dumps(rec, sort_keys=True))
