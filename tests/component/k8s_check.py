#!/usr/bin/env python3
"""Checks the resource attributes the k8sattributes tests wrote.

  k8s_check.py OUT MARKER [EXPECT ...]

OUT is the file exporter's OTLP/JSON lines; the resource checked is the one
whose attribute test.step equals MARKER, or (syslog) whose log body has MARKER
as a word. EXPECT is key=value (equal), key= (absent), key~text (contains).
Values are compared as text: strings as they are, booleans true/false, ints
in decimal. Exit 0 when every expectation holds, 1 when one does not (the
attributes are printed), 2 when no such resource is there (yet)."""
import json
import sys


def text(v):
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return "true" if v["boolValue"] else "false"
    if "intValue" in v:
        return str(v["intValue"])
    if "doubleValue" in v:
        return str(v["doubleValue"])
    return json.dumps(v)


def resources(path):
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        if not line.strip():
            continue
        req = json.loads(line)
        for key, inner, items in (("resourceSpans", "scopeSpans", "spans"),
                                  ("resourceMetrics", "scopeMetrics", "metrics"),
                                  ("resourceLogs", "scopeLogs", "logRecords")):
            for r in req.get(key, []):
                attrs = {a["key"]: text(a.get("value", {})) for a in r.get("resource", {}).get("attributes", [])}
                bodies = []
                for s in r.get(inner, []):
                    for it in s.get(items, []):
                        b = it.get("body")
                        if b:
                            bodies.append(text(b))
                yield attrs, bodies


def main():
    out, marker, expects = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = None
    for attrs, bodies in resources(out):
        if attrs.get("test.step") == marker or any(marker in b.split() for b in bodies):
            found = attrs
    if found is None:
        return 2
    bad = []
    for e in expects:
        if "~" in e and ("=" not in e or e.index("~") < e.index("=")):
            k, v = e.split("~", 1)
            if v not in found.get(k, ""):
                bad.append(e)
        else:
            k, v = e.split("=", 1)
            if v == "":
                if k in found:
                    bad.append(e)
            elif found.get(k) != v:
                bad.append(e)
    if bad:
        print("marker %s: expected %s; resource attributes:" % (marker, bad), file=sys.stderr)
        for k in sorted(found):
            print("  %s = %s" % (k, found[k]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
