#!/bin/sh
# Syslog parser/framer micro benchmark: compiles tests/bench/bench_syslog_parse.c
# with -O2 against the sources (no CMake) and prints messages/s on one core.
# Usage: tests/bench/syslog_parse.sh [seconds per case]   (CC overrides the compiler)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/bench_syslog_parse.$$
trap 'rm -f "$out"' EXIT
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$root" -I"$root/collector" \
    -o "$out" "$root/tests/bench/bench_syslog_parse.c" \
    "$root/receivers/syslog/syslog_parse.c" "$root/receivers/syslog/syslog_frame.c" \
    "$root/collector/mem.c" "$root/collector/error.c"
if command -v taskset >/dev/null 2>&1; then
    taskset -c 0 "$out" "$@"
else
    "$out" "$@"
fi
