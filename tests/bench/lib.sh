# Helpers for the benchmarks: side-by-side timing in one run, min of N.
set -euo pipefail
PY=${CLIPPO_PYTHON:-/usr/bin/python3}
B=$(mktemp -d /tmp/clippo-bench.XXXXXX)
trap 'rm -rf "$B"' EXIT
cd "$B"
machine() {
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
}
# best_of N CMD...: the fastest wall time in seconds of N runs (stdout dropped).
best_of() {
  local n=$1 best="" t0 t1 dt
  shift
  for _ in $(seq "$n"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    dt=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || (( $(echo "$dt < $best" | bc -l) )); then best=$dt; fi
  done
  echo "$best"
}
ratio() { echo "scale=3; $1 / $2" | bc -l; }
rate() { echo "scale=1; $1 / $2" | bc -l; }
