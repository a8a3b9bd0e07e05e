#!/usr/bin/env bash
# k8sattributes benchmark: resources tagged per second on one core with N pods
# cached (default 10,000), and memory per cached pod. Targets: over 2,000,000
# resource lookups/s, under 1 KiB per pod.
# Builds tests/bench/k8sattributes_driver.c with -O2 against an optimised build's
# libraries (BUILD, default ./build from `make build`) and runs it pinned to CPU 0.
#   tests/bench/k8sattributes.sh [pods] [seconds per measurement]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SRC/build}
CC=${CC:-cc}
[ -f "$BUILD/libvigilcore.a" ] || { echo "no $BUILD/libvigilcore.a: run 'make build' (or set BUILD)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/vigil-k8sbench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# shellcheck disable=SC2046
"$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -iquote "$SRC/collector" -I "$SRC" -I "$BUILD/gen" \
    "$SRC/tests/bench/k8sattributes_driver.c" -o "$TMP/bench" \
    "$BUILD/libvigilcore.a" "$BUILD/libvigilproto.a" \
    $(pkg-config --cflags --libs libuv libnghttp2 libprotobuf-c jansson libzstd zlib yaml-0.1 openssl libcurl) \
    -lhttp_parser -lpthread -lm
echo "== k8sattributes: ${1:-10000} pods cached, one core (taskset -c 0) =="
if command -v taskset >/dev/null 2>&1; then taskset -c 0 "$TMP/bench" "$@"; else "$TMP/bench" "$@"; fi
