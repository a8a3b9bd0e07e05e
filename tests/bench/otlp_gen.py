#!/usr/bin/env python3
"""Pre-encoded OTLP requests for tests/bench/otlp.sh (protobuf written by hand,
no dependencies). Usage: otlp_gen.py traces|logs SPANS_PER_REQUEST OUT_PREFIX
writes OUT_PREFIX.pb (an Export*ServiceRequest) and OUT_PREFIX.grpc (the same
in a gRPC frame: flag 0, big-endian length)."""
import random, struct, sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fld(num, wt, payload):
    if wt == 0:
        return varint(num << 3) + varint(payload)
    if wt == 1:
        return varint(num << 3 | 1) + struct.pack("<Q", payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def s(num, text):
    return fld(num, 2, text.encode())


def kv(key, value, num=1):  # field `num` = KeyValue{key, AnyValue{string_value | int_value}}
    av = s(1, value) if isinstance(value, str) else fld(3, 0, value)
    return fld(num, 2, s(1, key) + fld(2, 2, av))


def span(i, rnd):
    b = fld(1, 2, rnd.randbytes(16)) + fld(2, 2, rnd.randbytes(8)) + fld(4, 2, rnd.randbytes(8))
    b += s(5, "GET /api/v1/items") + fld(6, 0, 2)
    b += fld(7, 1, 1700000000000000000 + i * 1000) + fld(8, 1, 1700000000000500000 + i * 1000)
    b += kv("http.method", "GET", 9) + kv("http.status_code", 200, 9) + kv("net.peer.ip", "10.1.2.%d" % (i % 250), 9)
    b += fld(15, 2, fld(3, 0, 1))  # status {code: OK}
    return b


def log(i, rnd):
    b = fld(1, 1, 1700000000000000000 + i * 1000) + fld(11, 1, 1700000000000000100 + i * 1000)
    b += fld(2, 0, 9) + s(3, "INFO") + fld(5, 2, s(1, "request %d served in %d ms" % (i, i % 97)))
    b += kv("http.method", "GET", 6) + kv("http.status_code", 200, 6)
    b += fld(9, 2, rnd.randbytes(16)) + fld(10, 2, rnd.randbytes(8))
    return b


def main():
    kind, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(7)
    scope = fld(1, 2, s(1, "bench") + s(2, "1.0"))
    if kind == "traces":
        items = b"".join(fld(2, 2, span(i, rnd)) for i in range(n))
    else:
        items = b"".join(fld(2, 2, log(i, rnd)) for i in range(n))
    # Resource{Spans|Logs} {resource=1, scope_{spans|logs}=2 {scope=1, items=2}}
    req = fld(1, 2, fld(1, 2, resource_body()) + fld(2, 2, scope + items))
    open(prefix + ".pb", "wb").write(req)
    open(prefix + ".grpc", "wb").write(b"\x00" + struct.pack(">I", len(req)) + req)


def resource_body():
    return kv("service.name", "bench-svc") + kv("host.name", "bench-host-1")


if __name__ == "__main__":
    main()
