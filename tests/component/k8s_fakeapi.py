#!/usr/bin/env python3
"""A fake Kubernetes API server for the k8sattributes tests.

Serves the recorded lists in tests/fixtures/k8s (PodList, ReplicaSetList,
NamespaceList) the way kube-apiserver does: compact JSON, metadata.resourceVersion,
pagination with limit/continue, fieldSelector spec.nodeName / metadata.name, and
watches as chunked HTTP streams of one JSON event per line. Bearer-token auth,
optionally TLS.

The test drives it through POST /_control with a JSON body:
  {"op": "event", "resource": "pods", "file": "ev_added_api.json"}
      apply the event to the list state and send it to the open watches
  {"op": "raw", "resource": "pods", "file": "ev_error_410.json"}
      send an event without touching the state (BOOKMARK, ERROR)
  {"op": "set_list", "resource": "pods", "file": "podlist_relist.json"}
      replace the state (what a relist will see)
  {"op": "drop", "resource": "pods"}     close the open watches abruptly (no final chunk)
  {"op": "end", "resource": "pods"}      end the open watches cleanly
and reads GET /_stats: every request's path and query, and the open watches.
Run: k8s_fakeapi.py --port P --fixtures DIR --token T [--tls CERT KEY] [--page-size N]
"""
import argparse
import json
import os
import queue
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RES = {
    "/api/v1/pods": "pods",
    "/api/v1/namespaces": "namespaces",
    "/apis/apps/v1/replicasets": "replicasets",
}
LIST_FILES = {"pods": "podlist.json", "namespaces": "namespacelist.json", "replicasets": "replicasetlist.json"}


class State:
    def __init__(self, fixtures, page_size):
        self.fixtures = fixtures
        self.page_size = page_size
        self.lock = threading.Lock()
        self.lists = {r: self.load(f) for r, f in LIST_FILES.items()}
        self.watchers = {r: [] for r in LIST_FILES}
        self.requests = []
        self.continues = {}

    def load(self, name):
        with open(os.path.join(self.fixtures, name)) as f:
            return json.load(f)

    def apply(self, resource, ev):
        lst = self.lists[resource]
        obj = ev["object"]
        uid = obj["metadata"].get("uid")
        items = [i for i in lst["items"] if i["metadata"].get("uid") != uid]
        if ev["type"] in ("ADDED", "MODIFIED"):
            item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
            items.append(item)
        lst["items"] = items
        rv = obj["metadata"].get("resourceVersion")
        if rv:
            lst["metadata"]["resourceVersion"] = rv

    def broadcast(self, resource, msg):
        for q in list(self.watchers[resource]):
            q.put(msg)


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def field_filter(items, selector):
    if not selector:
        return items
    key, _, val = selector.partition("=")
    out = []
    for it in items:
        if key == "spec.nodeName" and it.get("spec", {}).get("nodeName") != val:
            continue
        if key == "metadata.name" and it.get("metadata", {}).get("name") != val:
            continue
        out.append(it)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"

    def log_message(self, fmt, *args):
        sys.stderr.write("fakeapi: " + (fmt % args) + "\n")

    def send_json(self, code, obj):
        body = compact(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code})

    def do_POST(self):
        st = self.server.state
        if self.path != "/_control":
            return self.status(404, "NotFound", "not found")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        op, res = body["op"], body.get("resource", "pods")
        with st.lock:
            if op == "event":
                ev = st.load(body["file"])
                st.apply(res, ev)
                st.broadcast(res, ("event", compact(ev)))
            elif op == "raw":
                st.broadcast(res, ("event", compact(st.load(body["file"]))))
            elif op == "set_list":
                st.lists[res] = st.load(body["file"])
            elif op in ("drop", "end"):
                st.broadcast(res, (op, None))
            n = len(st.watchers[res])
        self.send_json(200, {"ok": True, "watchers": n})

    def do_GET(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/_stats":
            with st.lock:
                return self.send_json(200, {"requests": st.requests,
                                            "watchers": {r: len(w) for r, w in st.watchers.items()}})
        with st.lock:
            st.requests.append({"path": url.path, "query": q, "t": time.time()})
        if self.headers.get("Authorization") != "Bearer " + self.server.token:
            return self.status(401, "Unauthorized", "Unauthorized")
        path = url.path
        # namespaced forms: /api/v1/namespaces/<ns>/pods, /apis/apps/v1/namespaces/<ns>/replicasets
        ns = None
        parts = path.split("/")
        if len(parts) == 6 and parts[3] == "namespaces" and parts[1] == "api":
            ns, path = parts[4], "/api/v1/" + parts[5]
        elif len(parts) == 7 and parts[4] == "namespaces":
            ns, path = parts[5], "/apis/apps/v1/" + parts[6]
        res = RES.get(path)
        if not res:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        if q.get("watch") in ("1", "true"):
            return self.watch(res)
        with st.lock:
            lst = st.lists[res]
            items = field_filter(lst["items"], q.get("fieldSelector"))
            if ns:
                items = [i for i in items if i["metadata"].get("namespace") == ns]
            rv = lst["metadata"]["resourceVersion"]
            start = 0
            if q.get("continue"):
                start, rv = st.continues[q["continue"]]
            limit = int(q.get("limit", "0") or 0)
            if st.page_size and (not limit or limit > st.page_size):
                limit = st.page_size
            page = items[start:start + limit] if limit else items[start:]
            md = {"resourceVersion": rv}
            if limit and start + limit < len(items):
                tok = "tok-%d-%d" % (start + limit, len(st.continues))
                st.continues[tok] = (start + limit, rv)
                md["continue"] = tok
                md["remainingItemCount"] = len(items) - start - limit
            out = {"kind": lst["kind"], "apiVersion": lst["apiVersion"], "metadata": md, "items": page}
        self.send_json(200, out)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res):
        st = self.server.state
        q = queue.Queue()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        with st.lock:
            st.watchers[res].append(q)
        try:
            while True:
                try:
                    kind, data = q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "event":
                    self.chunk(data + b"\n")
                elif kind == "end":
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                elif kind == "drop":
                    # An abrupt close: no final chunk, RST on the way out.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            with st.lock:
                if q in st.watchers[res]:
                    st.watchers[res].remove(q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--page-size", type=int, default=0)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(a.fixtures, a.page_size)
    srv.token = a.token
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("fakeapi listening on %d" % a.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
