# k8sattributes with no API (auth_type: none): names come from the node itself.
# The test creates real cgroups named like Kubernetes containers (cgroupfs driver:
# kubepods/burstable/pod<uid>/<id>; systemd driver: kubepods.slice/.../
# cri-containerd-<id>.scope) in the cgroup v1 controllers and the v2 unified
# tree, puts a child process in each, and builds a kubelet log tree
# (/var/log/pods/<ns>_<pod>_<uid>/<container>/, /var/log/containers/<pod>_<ns>_<container>-<id>.log).
# Resources naming the process (process.pid), a container id or a pod uid must
# come out with the pod's namespace, name, uid, container name and id.
. "$VIGIL_SRC/tests/lib.sh"
CHK="$VIGIL_SRC/tests/component/k8s_check.py"
CGH="$VIGIL_SRC/tests/component/k8s_cgroup.py"
[ "$(id -u)" = 0 ] || skip "needs root to create cgroups"
python3 "$CGH" hier >"$T/hier" || skip "no writable cgroup hierarchy under /sys/fs/cgroup"
[ "$(wc -l <"$T/hier")" -ge 2 ] || skip "wanted cgroup v1 controllers and the v2 tree, found only $(cat "$T/hier")"

TOP="vigil-k8s-test-$$"
hexid() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
newuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
UID1=$(newuid); CID1=$(hexid); CID1B=$(hexid)   # pod "web-1" (cgroupfs driver), two containers
UID2=$(newuid); CID2=$(hexid)                    # pod "job-x" (systemd driver)
UID3=$(newuid); CID3=$(hexid)                    # in a pod the kubelet folders do not know
k8s_cleanup() { python3 "$CGH" rm "$TOP" || echo "cleanup of cgroups $TOP failed" >&2; vg_cleanup; }
trap k8s_cleanup EXIT

# place_child REL : a sleeping child in cgroup REL of every hierarchy; prints its pid
place_child() {
  python3 "$CGH" exec "$TOP" "$1" sleep 300 >/dev/null 2>&1 &
  local pid=$!
  wait_until 5 grep -q "$1" "/proc/$pid/cgroup" || fail "child not placed in $1"
  wait_until 5 grep -q '^sleep' "/proc/$pid/comm" || fail "child did not exec"
  echo "$pid"
}
UIDS2=${UID2//-/_}
PID1=$(place_child "kubepods/burstable/pod$UID1/$CID1")
PID2=$(place_child "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$UIDS2.slice/cri-containerd-$CID2.scope")
PID3=$(place_child "kubepods/pod$UID3/$CID3")
[ "$(grep -c "pod$UID1/$CID1" "/proc/$PID1/cgroup")" -ge 2 ] || fail "child 1 is not in a v1 and the v2 cgroup"

# the kubelet's log layout
mkdir -p "$T/pods/shop_web-1_$UID1/web" "$T/pods/shop_web-1_$UID1/istio-proxy" "$T/pods/ops_job-x_$UID2/run" "$T/containers"
touch "$T/pods/shop_web-1_$UID1/web/0.log" "$T/pods/shop_web-1_$UID1/istio-proxy/0.log" "$T/pods/ops_job-x_$UID2/run/0.log"
ln -s "../pods/shop_web-1_$UID1/web/0.log" "$T/containers/web-1_shop_web-$CID1.log"
ln -s "../pods/shop_web-1_$UID1/istio-proxy/0.log" "$T/containers/web-1_shop_istio-proxy-$CID1B.log"
ln -s "../pods/ops_job-x_$UID2/run/0.log" "$T/containers/job-x_ops_run-$CID2.log"

mport=$(free_port)
mkdir -p "$T/in"
: >"$T/in/in.jsonl"
cat >"$T/c.yaml" <<EOF
receivers:
  otlpjsonfile: { include: ["$T/in/*.jsonl"], start_at: beginning, poll_interval: 20ms }
processors:
  k8sattributes:
    auth_type: none
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name, container.id]
    pod_association:
      - sources: [{ from: resource_attribute, name: process.pid }]
      - sources: [{ from: resource_attribute, name: container.id }]
      - sources: [{ from: resource_attribute, name: k8s.pod.uid }]
    node_local: { pods_log_dir: $T/pods, containers_log_dir: $T/containers, rescan_interval: 0s }
    identity: { claims: overwrite_and_mark }
exporters:
  file: { path: $T/out.json }
service:
  telemetry: { metrics: { address: "127.0.0.1:$mport" } }
  pipelines:
    metrics: { receivers: [otlpjsonfile], processors: [k8sattributes], exporters: [file] }
EOF
vg_start c "$T/c.yaml"

n=0
# send ATTR=VALUE... (process.pid is sent as an int): one gauge point under a resource with these attributes
send() {
  n=$((n + 1))
  local a="{\"key\":\"test.step\",\"value\":{\"stringValue\":\"s$n\"}}" kv
  for kv in "$@"; do
    if [ "${kv%%=*}" = process.pid ]; then a="$a,{\"key\":\"process.pid\",\"value\":{\"intValue\":\"${kv#*=}\"}}"
    else a="$a,{\"key\":\"${kv%%=*}\",\"value\":{\"stringValue\":\"${kv#*=}\"}}"; fi
  done
  printf '{"resourceMetrics":[{"resource":{"attributes":[%s]},"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"1714637647000000000"}]}}]}]}]}\n' \
    "$a" >>"$T/in/in.jsonl"
}
arrived() { python3 "$CHK" "$T/out.json" "$1"; [ $? -ne 2 ]; }
expect() {
  local what=$1; shift
  wait_until 10 arrived "s$n" || fail "$what: s$n never reached the output"
  python3 "$CHK" "$T/out.json" "s$n" "$@" || fail "$what"
  ok "$what"
}

send process.pid="$PID1"
expect "process in a cgroupfs-driver container cgroup (v1 + v2): names from the kubelet folders" \
  container.id="$CID1" k8s.pod.uid="$UID1" k8s.pod.name=web-1 k8s.namespace.name=shop k8s.container.name=web
send process.pid="$PID2"
expect "process in a systemd-driver container scope" \
  container.id="$CID2" k8s.pod.uid="$UID2" k8s.pod.name=job-x k8s.namespace.name=ops k8s.container.name=run
send process.pid="$PID3"
expect "process in a pod the kubelet folders do not know: ids from the cgroup only" \
  container.id="$CID3" k8s.pod.uid="$UID3" k8s.pod.name= k8s.container.name=
send process.pid=$$
expect "host process: no container, no tags" container.id= k8s.pod.uid=
send container.id="$CID1B"
expect "container id alone: its pod and container" k8s.pod.name=web-1 k8s.container.name=istio-proxy k8s.pod.uid="$UID1"
send k8s.pod.uid="$UID2"
expect "pod uid alone: its namespace and name" k8s.pod.name=job-x k8s.namespace.name=ops k8s.container.name=
send container.id="$(hexid)"
expect "unknown container id: untagged" k8s.pod.name= k8s.pod.uid=
send process.pid="$PID1" k8s.pod.name=db-0 container.id="$CID2"
expect "claims that differ from the process's identity are overwritten and marked" k8s.pod.name=web-1 \
  container.id="$CID1" vigil.identity.mismatch=true vigil.identity.claimed.k8s.pod.name=db-0 \
  vigil.identity.claimed.container.id="$CID2"
[ "$(metric "$mport" vigil_k8sattributes_identity_mismatches)" -ge 2 ] || fail "mismatches not counted"
[ "$(metric "$mport" vigil_k8sattributes_local_scans)" -ge 1 ] || fail "no folder scans counted"
vg_stop c
echo "1 passed, 0 failed"
