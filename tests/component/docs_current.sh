# docs/components/ is generated from the option tables; it must match the code.
. "$VIGIL_SRC/tests/lib.sh"
"$VIGIL_BIN" components --markdown "$T/gen" || fail "generation failed"
diff -ru "$VIGIL_SRC/docs/components" "$T/gen" > "$T/diff" || {
  cat "$T/diff" | head -40
  fail "docs/components is stale: run 'make docs' and commit it"
}
ok "docs/components matches the option tables"
echo "1 passed, 0 failed"
