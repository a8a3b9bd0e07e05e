#!/bin/bash
# NAB short run: tests/bench/nab.sh --short over a few NAB files, with a floor
# on the standard score. Needs the shared NAB kit beside the repository
# ("$VIGIL_SRC/../shared/nab") and python3; skips (77) loudly without them.
set -u
src=${VIGIL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export NAB_DIR=${NAB_DIR:-$src/../shared/nab}
if [ ! -f "$NAB_DIR/nab_score.py" ] || [ ! -d "$NAB_DIR/data" ]; then
    echo "SKIP nab_short: no NAB kit at $NAB_DIR (CI clones shared/ beside the repo; or set NAB_DIR)" >&2
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP nab_short: python3 (needed by nab_score.py) is not installed" >&2
    exit 77
fi
exec bash "$src/tests/bench/nab.sh" --short
