# Shared helpers for the end-to-end tests: source it, then call `check` and
# `expect_*`; the script exits non-zero on the first failure. Debian's python3
# (with numpy) is $PY.
set -uo pipefail
PY=${CLIPPO_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/clippo-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() { [ "$1" == "$2" ] || fail "$3: got '$1', expected '$2'"; }
# expect_contains TEXT NEEDLE WHAT
expect_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; }
# expect_status STATUS CMD...: runs CMD, stdout to $T/.stdout, stderr to $T/.stderr
expect_status() {
  local want=$1; shift
  "$@" >"$T/.stdout" 2>"$T/.stderr"; local got=$?
  [ "$got" == "$want" ] || fail "exit $got (expected $want) from: $* -- stderr: $(head -c 2000 "$T/.stderr")"
}
# Lists a shard (any compression) as KEY.FIELD lines with GNU tar.
members() { tar --auto-compress -tf "$1" 2>/dev/null || zstd -dc "$1" | tar -t; }
done_testing() {
  if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}
