#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the tests.
#   tests/run.sh            unit + cli tests
#   tests/run.sh -L bench   the benchmarks (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
clippo_install_deps
build=${CLIPPO_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
if [ $# -eq 0 ]; then set -- -LE bench; fi
ctest --output-on-failure "$@"
