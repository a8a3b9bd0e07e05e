# k8sattributes against a fake Kubernetes API server (tests/component/k8s_fakeapi.py)
# serving recorded-format PodList / ReplicaSetList / NamespaceList and a watch
# stream, over TLS with a kubeconfig (CA data + bearer token). Data goes through
# a real pipeline (otlpjsonfile -> k8sattributes -> file) and each API event must
# show in the attributes: list (paginated, node field selector), ADDED, MODIFIED
# (relabel), DELETED (grace period, then gone), BOOKMARK (its resourceVersion is
# where the watch resumes), a dropped connection (reconnect), 410 Gone (relist,
# vanished pods deleted), a clean end of a watch, and a forged pod name.
. "$VIGIL_SRC/tests/lib.sh"
FX="$VIGIL_SRC/tests/fixtures/k8s"
CHK="$VIGIL_SRC/tests/component/k8s_check.py"
command -v openssl >/dev/null || skip "the openssl command is needed to make the fake API server's certificate"

# --- the fake API server, TLS with a self-signed certificate for 127.0.0.1 ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/srv.key" -out "$T/srv.crt" \
  -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>"$T/openssl.log" || fail "openssl"
apiport=$(free_port)
api() { curl -fsS -k "https://127.0.0.1:$apiport$1" "${@:2}"; }
control() { api /_control -H 'Content-Type: application/json' -d "$1" >/dev/null || fail "control $1"; }
stats() { api /_stats; }

cat >"$T/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$apiport/
    certificate-authority-data: $(base64 -w0 "$T/srv.crt")
- name: other
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: other
  context: { cluster: other, user: nobody }
- name: fake
  context: { cluster: fake, user: vigil, namespace: default }
current-context: fake
users:
- name: vigil
  user:
    token: s3cret
- name: nobody
  user:
    token: wrong
EOF

mport=$(free_port)
mkdir -p "$T/in"
: >"$T/in/in.jsonl"
cat >"$T/c.yaml" <<EOF
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
processors:
  k8sattributes:
    auth_type: kubeConfig
    kube_config_path: $T/kubeconfig
    filter: { node_from_env_var: VIGIL_TEST_NODE }
    pod_delete_grace_period: 3s
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.pod.ip, k8s.node.name,
                 k8s.deployment.name, k8s.deployment.uid, k8s.replicaset.name, k8s.statefulset.name,
                 k8s.daemonset.name, k8s.job.name, k8s.cronjob.name, k8s.container.name, container.id,
                 container.image.name, container.image.tag]
      labels:
        - { key: team }
        - { tag_name: 'app.\$\$1', key_regex: 'app\.kubernetes\.io/(.*)' }
        - { tag_name: env, key: env, from: namespace }
      annotations:
        - { tag_name: scrape, key: prometheus.io/scrape }
    pod_association:
      - sources: [{ from: resource_attribute, name: k8s.pod.ip }]
      - sources: [{ from: resource_attribute, name: k8s.pod.uid }]
    identity: { claims: overwrite_and_mark }
    wait_for_metadata: true
    wait_for_metadata_timeout: 1s
exporters:
  file: { path: $T/out.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    logs: { receivers: [otlpjsonfile], processors: [k8sattributes], exporters: [file] }
EOF
"$VIGIL_BIN" validate --config "$T/c.yaml" >/dev/null 2>&1 || fail "config invalid"
VIGIL_TEST_NODE=node-a vg_start c "$T/c.yaml"

n=0
# send ATTR=VALUE... : one log record whose resource has these attributes; prints its marker
send() {
  n=$((n + 1))
  local a="{\"key\":\"test.step\",\"value\":{\"stringValue\":\"s$n\"}}" kv
  for kv in "$@"; do a="$a,{\"key\":\"${kv%%=*}\",\"value\":{\"stringValue\":\"${kv#*=}\"}}"; done
  printf '{"resourceLogs":[{"resource":{"attributes":[%s]},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"s%s"}}]}]}]}\n' \
    "$a" "$n" >>"$T/in/in.jsonl"
}
arrived() { python3 "$CHK" "$T/out.json" "$1"; [ $? -ne 2 ]; }
# expect WHAT EXPECTATIONS... : checks the resource of the last send
expect() {
  local what=$1; shift
  wait_until 10 arrived "s$n" || fail "$what: s$n never reached the output"
  python3 "$CHK" "$T/out.json" "s$n" "$@" || fail "$what"
  ok "$what"
}
m() { metric "$mport" "$@"; }
ev_count() { m vigil_k8sattributes_api_events "resource=\"pods\",type=\"$1\""; }
wait_watchers() { # wait until the server has a pods watch open again
  wait_until 10 bash -c "curl -fsS -k https://127.0.0.1:$apiport/_stats | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"watchers\"][\"pods\"] >= 1 else 1)'" \
    || fail "no pods watch open"
}

U() { printf '0d1c2b3a-4f5e-4d6c-8b7a-%012d' "$1"; }
C() { printf '%064x' $((0x5eed0000 + $1)); }

# --- the API server is not up yet: wait_for_metadata refuses data, the client retries -----
send k8s.pod.ip=10.244.1.17
wait_metric 10 "$mport" vigil_k8sattributes_wait_refused 1 || fail "data not refused while metadata is missing"
[ ! -s "$T/out.json" ] || fail "data went out before the metadata arrived"
vg_wait_log c 'metadata not synced after wait_for_metadata_timeout' 10 || fail "no error after wait_for_metadata_timeout"
vg_wait_log c 'pods list failed' 10 || fail "connection refused not reported"
python3 "$VIGIL_SRC/tests/component/k8s_fakeapi.py" --port "$apiport" --fixtures "$FX" --token s3cret \
  --tls "$T/srv.crt" "$T/srv.key" --page-size 2 >"$T/api.log" 2>&1 &
apipid=$!
VG_PIDS+=("$apipid")
wait_until 10 grep -q listening "$T/api.log" || fail "fake API server did not start"
expect "with wait_for_metadata, data waits for the first list and is then tagged" k8s.pod.name=web-7d4b9c6f5d-x2x9k
ok "API server down at start: retried with backoff until it answered"

# --- initial lists -------------------------------------------------------------
wait_metric 20 "$mport" vigil_k8sattributes_api_synced 3 || fail "lists did not sync"
[ "$(m vigil_k8sattributes_api_list_pages 'resource="pods"')" -ge 4 ] || fail "pod list was not paginated"
stats >"$T/stats.json"
python3 - "$T/stats.json" <<'PY' || fail "the pod list/watch did not use the node field selector"
import json, sys
reqs = [r for r in json.load(open(sys.argv[1]))["requests"] if r["path"] == "/api/v1/pods"]
assert reqs and all(r["query"].get("fieldSelector") == "spec.nodeName=node-a" for r in reqs), reqs
assert any(r["query"].get("continue") for r in reqs), "no continue token used"
w = [r for r in reqs if r["query"].get("watch") == "1"]
assert w and w[0]["query"]["allowWatchBookmarks"] == "true" and w[0]["query"]["resourceVersion"] == "12000", w
PY
ok "paginated list with the node field selector, then a watch from the list's resourceVersion"

send k8s.pod.ip=10.244.1.17 k8s.container.name=web
expect "listed pod tagged (Deployment via ReplicaSet, labels, namespace label, annotation, container)" \
  k8s.pod.name=web-7d4b9c6f5d-x2x9k k8s.namespace.name=shop k8s.pod.uid="$(U 1)" k8s.node.name=node-a \
  k8s.pod.start_time=2024-05-02T08:14:01Z k8s.deployment.name=web \
  k8s.deployment.uid=5b1f3c1e-8a0e-4a57-9c38-0c4f0f4c1a01 k8s.replicaset.name=web-7d4b9c6f5d \
  k8s.pod.labels.team=payments app.version=3.1.0 app.part-of=shop env=prod scrape=true \
  container.id="$(C 1)" container.image.name=nginx container.image.tag=1.25.3 vigil.identity.mismatch=
send k8s.pod.ip=10.244.1.23
expect "StatefulSet pod tagged, image with digest" k8s.pod.name=db-0 k8s.statefulset.name=db k8s.deployment.name=
send k8s.pod.uid="$(U 4)" k8s.container.name=backup
expect "pod by uid: Job and CronJob, registry with a port" k8s.pod.name=backup-28391520-vq7xz \
  k8s.job.name=backup-28391520 k8s.cronjob.name=backup env=ops container.image.name=registry.local:5000/tools/backup \
  container.image.tag=2.4 container.id="$(C 5)"
send k8s.pod.ip=192.168.49.2
expect "hostNetwork pod not associated by IP" k8s.pod.name=
send k8s.pod.ip=10.244.2.9
expect "pod of another node (filtered by the server) unknown" k8s.pod.name=
send k8s.pod.uid="$(U 5)"
expect "pod with the ignore annotation not cached" k8s.pod.name=
send k8s.pod.ip=10.244.1.17 k8s.pod.name=evil-pod k8s.namespace.name=shop
expect "forged pod name overwritten and marked" k8s.pod.name=web-7d4b9c6f5d-x2x9k vigil.identity.mismatch=true \
  vigil.identity.claimed.k8s.pod.name=evil-pod vigil.identity.claimed.k8s.namespace.name=
[ "$(m vigil_k8sattributes_identity_mismatches)" -ge 1 ] || fail "mismatch not counted"

# --- watch events -------------------------------------------------------------
wait_watchers
control '{"op":"event","resource":"pods","file":"ev_added_api.json"}'
wait_until 10 test "$(ev_count ADDED)" -ge 1 || fail "ADDED not received"
send k8s.pod.ip=10.244.1.40
expect "ADDED pod tagged" k8s.pod.name=api-6b8f7c9d4-qwert k8s.deployment.name=api k8s.pod.labels.team=core

control '{"op":"event","resource":"pods","file":"ev_modified_web.json"}'
wait_until 10 test "$(ev_count MODIFIED)" -ge 1 || fail "MODIFIED not received"
send k8s.pod.ip=10.244.1.17
expect "MODIFIED labels show" k8s.pod.labels.team=checkout app.version= app.part-of=shop

control '{"op":"event","resource":"pods","file":"ev_deleted_db.json"}'
wait_until 10 test "$(ev_count DELETED)" -ge 1 || fail "DELETED not received"
send k8s.pod.ip=10.244.1.23
expect "DELETED pod still tagged during the grace period" k8s.pod.name=db-0
[ "$(m vigil_k8sattributes_cache_deleted_pods)" -ge 1 ] || fail "deleted pod not counted"
sleep 3.5
send k8s.pod.ip=10.244.1.23
expect "DELETED pod not tagged after the grace period" k8s.pod.name=

# --- bookmark, then a dropped connection -------------------------------------
control '{"op":"raw","resource":"pods","file":"ev_bookmark.json"}'
wait_until 10 test "$(ev_count BOOKMARK)" -ge 1 || fail "BOOKMARK not received"
control '{"op":"drop","resource":"pods"}'
wait_metric 10 "$mport" vigil_k8sattributes_api_reconnects 1 'resource="pods"' || fail "no reconnect after the drop"
wait_watchers
stats >"$T/stats.json"
python3 - "$T/stats.json" <<'PY' || fail "the watch did not resume from the bookmark's resourceVersion"
import json, sys
w = [r for r in json.load(open(sys.argv[1]))["requests"] if r["path"] == "/api/v1/pods" and r["query"].get("watch")]
assert len(w) >= 2 and w[-1]["query"]["resourceVersion"] == "12345", [x["query"] for x in w]
PY
ok "dropped watch reconnected from the bookmark's resourceVersion"
control '{"op":"event","resource":"pods","file":"ev_added_cache.json"}'
wait_until 10 test "$(ev_count ADDED)" -ge 2 || fail "ADDED after reconnect not received"
send k8s.pod.ip=10.244.1.52
expect "pod added after the reconnect tagged" k8s.pod.name=cache-0 k8s.statefulset.name=cache

# --- 410 Gone: relist ------------------------------------------------------------
control '{"op":"set_list","resource":"pods","file":"podlist_relist.json"}'
control '{"op":"raw","resource":"pods","file":"ev_error_410.json"}'
wait_metric 10 "$mport" vigil_k8sattributes_api_relists 1 'resource="pods"' || fail "no relist after 410"
wait_metric 10 "$mport" vigil_k8sattributes_api_lists 2 'resource="pods"' || fail "relist not done"
wait_watchers
send k8s.pod.ip=10.244.1.61
expect "pod that appeared while the watch was gone tagged after the relist" k8s.pod.name=worker-5f6d7c8b9-abcde \
  k8s.replicaset.name=worker-5f6d7c8b9 k8s.deployment.name=
send k8s.pod.uid="$(U 4)"
expect "pod missing from the relist still tagged during the grace period" k8s.pod.name=backup-28391520-vq7xz
sleep 3.5
send k8s.pod.uid="$(U 4)"
expect "pod missing from the relist gone after the grace period" k8s.pod.name=
send k8s.pod.ip=10.244.1.17
expect "pods kept across the relist" k8s.pod.name=web-7d4b9c6f5d-x2x9k k8s.pod.labels.team=checkout

# --- a clean end of a watch (timeoutSeconds) reopens it at once ------------------
before=$(m vigil_k8sattributes_api_watches 'resource="pods"')
rec=$(m vigil_k8sattributes_api_reconnects 'resource="pods"')
control '{"op":"end","resource":"pods"}'
wait_metric 10 "$mport" vigil_k8sattributes_api_watches $((before + 1)) 'resource="pods"' || fail "watch not reopened"
[ "$(m vigil_k8sattributes_api_reconnects 'resource="pods"')" -eq "$rec" ] || fail "a clean end counted as a drop"
ok "cleanly ended watch reopened"
[ "$(m vigil_k8sattributes_cache_hits)" -ge 10 ] || fail "hits not counted"
[ "$(m vigil_k8sattributes_cache_misses)" -ge 4 ] || fail "misses not counted"
vg_stop c

# --- a wrong token is reported, and the processor keeps running ------------------
# the "other" context: the same server and CA, user "nobody" with a wrong token
python3 - "$T/kubeconfig" "$apiport" "$(base64 -w0 "$T/srv.crt")" <<'PY'
import sys
p, port, ca = sys.argv[1:]
s = open(p).read().replace("current-context: fake", "current-context: other")
s = s.replace("    server: https://127.0.0.1:1\n",
              "    server: https://127.0.0.1:%s\n    certificate-authority-data: %s\n" % (port, ca))
open(p, "w").write(s)
PY
sed "s#$T/out.json#$T/out-bad.json#; s#127.0.0.1:$mport#127.0.0.1:$(free_port)#" "$T/c.yaml" >"$T/bad.yaml"
VIGIL_TEST_NODE=node-a vg_start bad "$T/bad.yaml"
vg_wait_log bad 'HTTP 401' 10 || fail "a 401 was not reported"
grep -q 'ClusterRole' "$T/bad.log" || fail "the 401 message does not hint at RBAC"
vg_stop bad
ok "401 reported with an RBAC hint; the collector kept running and stopped cleanly"
kill "$apipid" && wait "$apipid" 2>/dev/null || true
echo "1 passed, 0 failed"
