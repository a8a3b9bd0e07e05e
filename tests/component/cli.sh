# The command line: validate exit codes, components listing, version, help, bad usage.
. "$VIGIL_SRC/tests/lib.sh"
cat > "$T/good.yaml" <<YAML
receivers: { otlpjsonfile: { include: [x] } }
exporters: { debug: {} }
service: { pipelines: { logs: { receivers: [otlpjsonfile], exporters: [debug] } } }
YAML
"$VIGIL_BIN" validate --config "$T/good.yaml" > "$T/v.out" 2>&1 || fail "valid config rejected: $(cat "$T/v.out")"
grep -q 'configuration is valid' "$T/v.out" || fail "no confirmation"
cat > "$T/bad.yaml" <<YAML
receivers: { otlpjsonfile: { include: [x], poll: 1s } }
exporters: { debug: { verbosity: loud } }
service: { pipelines: { logs: { receivers: [otlpjsonfile], exporters: [debgu] } } }
YAML
rc=0; "$VIGIL_BIN" validate --config "$T/bad.yaml" > "$T/v.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "invalid config: exit $rc, want 1"
[ "$(grep -c '^error: ' "$T/v.out")" -eq 3 ] || fail "want all 3 errors listed: $(cat "$T/v.out")"
grep -q "bad.yaml:1:44: receivers.otlpjsonfile.poll: unknown option 'poll'" "$T/v.out" || fail "position: $(cat "$T/v.out")"
rc=0; "$VIGIL_BIN" validate --config "$T/missing.yaml" > "$T/v.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc"
grep -q 'cannot open' "$T/v.out" || fail "missing file not explained"
ok "validate"

"$VIGIL_BIN" components > "$T/c.out" || fail "components failed"
for t in "receiver otlpjsonfile" "processor batch" "processor resource" "exporter file" "exporter debug" \
         "exporter nop" "connector forward"; do
  grep -q "^$t " "$T/c.out" || fail "components does not list $t"
done
grep -q 'send_batch_size .*default 8192' "$T/c.out" || fail "batch defaults not shown"
ok "components"
"$VIGIL_BIN" --version | grep -Eq '^vigil [0-9]+\.[0-9]+\.[0-9]+$' || fail "version"
"$VIGIL_BIN" --help | grep -q 'validate' || fail "help"
rc=0; "$VIGIL_BIN" --bogus > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown argument: exit $rc, want 2"
ok "version, help, usage errors"
# Invalid config at start: exit 1, errors logged.
rc=0; "$VIGIL_BIN" --config "$T/bad.yaml" > /dev/null 2> "$T/run.log" || rc=$?
[ "$rc" -eq 1 ] || fail "start with a bad config: exit $rc, want 1"
grep -q 'not starting' "$T/run.log" || fail "no explanation"
ok "bad config at start"
echo "1 passed, 0 failed"
