#!/usr/bin/env bash
# Scrape cost of collector/cgroup: a generated v2 systemd-driver fixture of N
# containers (default 500) in a temp dir, walked and read in full each scrape.
# Prints CPU milliseconds per scrape (getrusage) and peak RSS. Target: < 20 ms
# of CPU per scrape of 500 containers.
# As root, also creates N real (empty) cgroups on this host and scrapes them,
# which measures the kernel's cost of generating the files (LIVE=0 to skip).
#   tests/bench/cgroup_scrape.sh [containers] [iterations]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-500}
ITERS=${2:-50}
CC=${CC:-cc}
TMP=$(mktemp -d /tmp/vigil-cgbench.XXXXXX)
LIVE_NAME="vigilbench-$$"
cleanup() {
    if [[ -x $TMP/bench && ${LIVE_CREATED:-0} == 1 ]]; then "$TMP/bench" unlive "$LIVE_NAME" "$N" || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

"$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -iquote "$SRC/collector" -I "$SRC" \
    "$SRC/tests/bench/bench_cgroup_scrape.c" "$SRC"/collector/cgroup/*.c \
    "$SRC/collector/error.c" "$SRC/collector/mem.c" "$SRC/collector/log.c" -o "$TMP/bench"

echo "== fixture: $N containers, cgroup v2, systemd driver (files under $TMP) =="
"$TMP/bench" gen "$TMP/root" "$N"
"$TMP/bench" scrape "$TMP/root" "$ITERS"

if [[ ${LIVE:-1} == 1 && $(id -u) == 0 && -d /sys/fs/cgroup ]]; then
    echo "== live: $N real cgroups on this host (/sys/fs/cgroup/*/$LIVE_NAME) =="
    LIVE_CREATED=1
    "$TMP/bench" live "$LIVE_NAME" "$N"
    "$TMP/bench" scrape /sys/fs/cgroup "$ITERS" "/$LIVE_NAME/*"
fi
