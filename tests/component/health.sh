# health_check extension: 200 + JSON while running, 404 elsewhere, closed after exit.
. "$VIGIL_SRC/tests/lib.sh"
hp=$(free_port); mp=$(free_port)
cat > "$T/h.yaml" <<YAML
receivers: { otlpjsonfile: { include: ["$T/none/*.jsonl"] } }
exporters: { nop: {} }
extensions: { health_check: { endpoint: "127.0.0.1:$hp", path: /health } }
service:
  extensions: [health_check]
  telemetry: { metrics: { address: "127.0.0.1:$mp" } }
  pipelines: { logs: { receivers: [otlpjsonfile], exporters: [nop] } }
YAML
vg_start h "$T/h.yaml"
code=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$hp/health")
[ "$code" = 200 ] || fail "health: $code"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="Server available" and d["state"]=="running", d' "$T/body" || fail "body: $(cat "$T/body")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/nope")" = 404 ] || fail "unknown path not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$hp/health")" = 405 ] || fail "POST not 405"
ok "health 200 / 404 / 405"
vg_stop h
curl -s -o /dev/null "http://127.0.0.1:$hp/health" && fail "health endpoint still answering after exit"
ok "closed after exit"
echo "1 passed, 0 failed"
