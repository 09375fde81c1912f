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
# wait_for_sigint_handler PID: a script's background job starts with SIGINT
# ignored, so a signal sent before the tool installs its handler is lost;
# waits (30 s at most) until /proc says the process catches it, once it runs
# a clippo tool (the forked shell that is yet to exec one catches SIGINT too).
wait_for_sigint_handler() {
  local i mask
  for i in $(seq 300); do
    mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == clippo-* ]] || mask=""
    [ -n "$mask" ] && (((0x$mask & 2) != 0)) && return 0
    sleep 0.1
  done
  return 1
}
# expect_stop_on_stall WHAT FEED CMD...: CMD reads standard input from a pipe
# that stays open after the bytes of file FEED (none: ""); a SIGINT a second
# later must end it with exit 130 within 5 s. stderr to $T/.stderr.
expect_stop_on_stall() {
  local what=$1 feed=$2 pid
  shift 2
  rm -f "$T/.stall" && mkfifo "$T/.stall"
  "$@" <"$T/.stall" >"$T/.stdout" 2>"$T/.stderr" &
  pid=$!
  exec 3>"$T/.stall"
  [ -n "$feed" ] && cat "$feed" >&3
  expect_sigint_ends "$what" $pid
  exec 3>&-
}
# expect_sigint_ends WHAT PID: background job PID, waiting on input, ends
# with exit 130 within 5 s of a SIGINT sent once it catches the signal.
expect_sigint_ends() {
  local what=$1 pid=$2 got i
  wait_for_sigint_handler $pid || fail "$what: no SIGINT handler after 30 s"
  sleep 0.5
  kill -INT $pid
  for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then
    fail "$what: still waiting 5 s after SIGINT"
    kill -9 $pid
  fi
  wait $pid
  got=$?
  [ "$got" == 130 ] || fail "$what: exit $got after SIGINT (expected 130) -- stderr: $(head -c 2000 "$T/.stderr")"
}
# Whether this CPU has bf16 matmul instructions: without them libtorch's
# fallback sums some bf16 matmuls in bf16, and bf16 results are looser. (The
# unit tests check that clippo's own test, cpu_has_bf16_matmul, agrees.)
cpu_has_bf16() { grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; }
# Lists a shard (any compression) as KEY.FIELD lines with GNU tar.
members() { tar --auto-compress -tf "$1" 2>/dev/null || zstd -dc "$1" | tar -t; }
done_testing() {
  if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}
