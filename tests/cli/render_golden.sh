# Pixel-exact golden test: clippo-render against tests/ref/render_ref.py, a
# numpy restatement of big_vision's render_unifont, over strings covering
# ASCII, punctuation, accented Latin, Greek, Cyrillic, CJK, combining marks,
# emoji, control characters, invalid UTF-8, NUL, long wrapping captions, the
# empty string and exactly-at-the-edge line breaks, at several sizes and
# option settings.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF="$CLIPPO_SOURCE/tests/ref/render_ref.py"
export RENDER_REF_CACHE="$T/unifont-table.npy"  # parse the font once
$PY "$REF" cases cases.tar || fail "reference cases"
n=$(tar -tf cases.tar | wc -l)
[ "$n" -ge 20 ] || fail "only $n golden strings"

# The edge cases must really break exactly at the edge at each default size.
for size in 224 64 384; do
  hits=$($PY "$REF" edges --size "$size" cases.tar | awk '$1 ~ /^edge_/ { s += $2 } END { print s + 0 }')
  [ "$hits" -gt 0 ] || fail "size $size: no exactly-at-the-edge break among the edge cases"
done

compare() {  # compare WHAT OPTIONS...
  local what=$1; shift
  clippo-render -q --raw "$@" cases.tar >got.raw || { fail "$what: clippo-render failed"; return; }
  $PY "$REF" render "$@" cases.tar want.npy || { fail "$what: reference failed"; return; }
  $PY - "$what" cases.tar <<'EOF' || fail "$what: pixels differ"
import sys, tarfile
import numpy as np
what, cases = sys.argv[1], sys.argv[2]
want = np.load("want.npy")
got = np.fromfile("got.raw", np.uint8)
names = [m.name[:-4] for m in tarfile.open(cases).getmembers()]
if got.size != want.size:
    sys.exit(f"{what}: {got.size} bytes from clippo-render, {want.size} expected")
got = got.reshape(want.shape)
bad = [i for i in range(len(want)) if not np.array_equal(got[i], want[i])]
for i in bad:
    ys, xs = np.nonzero(got[i] != want[i])
    print(f"{what}: {names[i]}: {len(ys)} pixels differ, first at y={ys[0]} x={xs[0]} "
          f"(got {got[i][ys[0], xs[0]]}, want {want[i][ys[0], xs[0]]})", file=sys.stderr)
# The images must not be trivially blank: most cases have ink.
inked = sum(int((w != w[0, 0]).any() or w[0, 0] != w[-1, -1]) for w in want)
if inked < len(want) // 2:
    sys.exit(f"{what}: only {inked} of {len(want)} expected images have ink")
sys.exit(1 if bad else 0)
EOF
}

compare "size 224"
compare "size 64" --size 64
compare "size 384" --size 384
compare "size 100 (a partial last line)" --size 100
compare "size 16 (no room beside the widest glyph)" --size 16
compare "monospace" --monospace --size 128
compare "no-lower" --no-lower
compare "brightness" --text-brightness 255 --background-brightness 0 --size 64
compare "spacing 0, min-width 0" --spacing 0 --min-width 0
compare "spacing 3, min-width 9" --spacing 3 --min-width 9 --size 96
compare "max-chars 10" --max-chars 10 --size 64
compare "max-chars 0 (all)" --max-chars 0 --size 64
compare "font-size 12 (area resize)" --font-size 12 --size 96
compare "font-size 24 (area resize)" --font-size 24 --size 128
compare "font-size 10, monospace, brightness" --font-size 10 --monospace --text-brightness 200 --background-brightness 20 --size 80
done_testing
