# clippo-render end to end: inputs (lines, TSV, JSONL, shards on files and
# pipes), outputs (shard with header, raw, PNG, terminal), bad input, and
# any bytes in without a crash. Pixels are checked against the numpy
# reference (tests/ref/render_ref.py).
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF="$CLIPPO_SOURCE/tests/ref/render_ref.py"
export RENDER_REF_CACHE="$T/unifont-table.npy"

# --- lines: keys, txt kept byte for byte, CRLF, empty line, NUL; bad UTF-8
# is drawn (raw) but kept out of the shard
printf 'Hello World\r\n\nnul\0byte\nbad \xff\xfe utf\xe2\x82\nlast line without newline' >in.txt
expect_status 0 clippo-render -o out.shard in.txt
expect_contains "$(cat .stderr)" "in.txt:4: text is not valid UTF-8" "invalid UTF-8 line named"
expect_status 0 clippo-render --raw -o in.raw in.txt
$PY - <<'EOF' || fail "lines: shard content"
import io, json, tarfile, subprocess, sys
import numpy as np
sys.path.insert(0, __import__("os").environ["CLIPPO_SOURCE"] + "/tests/ref")
import render_ref
raw = subprocess.run(["zstd", "-dc", "out.shard"], capture_output=True, check=True).stdout
tar = tarfile.open(fileobj=io.BytesIO(raw))
names = tar.getnames()
want_names = ["__clippo__.json"] + [f"{i:09d}.{f}" for i in range(4) for f in ("pgm", "txt")]
assert names == want_names, names
header = json.loads(tar.extractfile("__clippo__.json").read())
assert header["tool"] == "clippo-render" and header["render"]["size"] == 224, header
assert header["render"]["fonts"] == ["/usr/share/unifont/unifont.hex"], header
texts = [b"Hello World", b"", b"nul\0byte", b"bad \xff\xfe utf\xe2\x82", b"last line without newline"]
table = render_ref.load_font([render_ref.DEFAULT_FONT])
stored = [t for t in texts if t != texts[3]]
for i, t in enumerate(stored):
    got = tar.extractfile(f"{i:09d}.txt").read()
    assert got == t, (i, got)
    pgm = tar.extractfile(f"{i:09d}.pgm").read()
    assert pgm.startswith(b"P5\n224 224\n255\n"), pgm[:20]
    img = np.frombuffer(pgm[15:], np.uint8).reshape(224, 224)
    assert np.array_equal(img, render_ref.render(t, table)), f"record {i} pixels"
raw = np.fromfile("in.raw", np.uint8).reshape(5, 224, 224)
for i, t in enumerate(texts):
    assert np.array_equal(raw[i], render_ref.render(t, table)), f"raw image {i} pixels"
EOF

# --- raw output equals the shard's pixels; --threads 2 gives the same bytes
expect_status 0 clippo-render --raw --threads 1 -o a.raw in.txt
expect_status 0 clippo-render --raw --threads 2 -o b.raw in.txt
cmp -s a.raw b.raw || fail "--threads 2 renders differently"
expect_eq "$(stat -c %s a.raw)" $((5 * 224 * 224)) "raw size"
expect_status 0 clippo-render --threads 2 -o out2.shard in.txt
cmp -s <(zstd -dc out.shard) <(zstd -dc out2.shard) || fail "--threads 2 shard differs"

# --- a megabyte-long line: rendered from its start, memory bounded
$PY -c "import sys; sys.stdout.buffer.write(b'Long ' * 12000000 + b'\nshort\n')" >long.txt  # 60 MB line
rss=$($PY -c "
import resource, subprocess
subprocess.run(['clippo-render', '-q', '--threads', '1', '-o', 'long.shard', 'long.txt'], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)") || fail "long line"
[ "$rss" -lt 40000 ] || fail "rendering a 60 MB line used $rss kB (one thread, holding the line would take 60 MB)"
zstd -dc long.shard | tar -xO 000000000.txt >long0.txt
expect_eq "$(stat -c %s long0.txt)" 768 "txt of a long line holds the first 768 code points"
expect_eq "$(zstd -dc long.shard | tar -xO 000000001.txt)" "short" "line after the long one"
printf 'Long %.0s' $(seq 200) >prefix.txt
clippo-render --raw -o p1.raw prefix.txt && zstd -dc long.shard | tar -xO 000000000.pgm | tail -c $((224 * 224)) >p2.raw
cmp -s p1.raw p2.raw || fail "long line renders differently from its start"

# --- TSV: keys from the file, bad lines reported and skipped, or fatal
printf 'k1\tFirst caption\nno tab here\nbad.key\tx\nsub/k2\tSecond\n/abs\ty\na/../b\tz\n' >in.tsv
expect_status 0 clippo-render --tsv -o tsv.shard in.tsv
expect_contains "$(cat "$T/.stderr")" "in.tsv:2: no TAB" "tsv warning"
expect_contains "$(cat "$T/.stderr")" "in.tsv:3: bad key 'bad.key': a '.' in its last part" "tsv key warning"
expect_contains "$(cat "$T/.stderr")" "in.tsv:5: bad key '/abs': starts or ends with '/'" "absolute key named as such"
expect_contains "$(cat "$T/.stderr")" "in.tsv:6: bad key 'a/../b': an empty, '.' or '..' folder" "'..' key named as such"
expect_eq "$(members tsv.shard | tr '\n' ' ')" "__clippo__.json k1.pgm k1.txt sub/k2.pgm sub/k2.txt " "tsv members"
$PY -c "import sys; sys.stdout.buffer.write(b'k\t' + b'x' * 100000 + b'\n')" >big.tsv
clippo-render -q --tsv --max-chars 0 -o big.shard big.tsv
expect_eq "$(zstd -dc big.shard | tar -xO k.txt | wc -c)" 100000 "--max-chars 0 keeps a long TSV text whole"
expect_status 1 clippo-render --tsv --on-error fail -o tsv2.shard in.tsv
[ -e tsv2.shard ] && fail "a failed run left its output"

# --- JSONL with --text-field
printf '{"caption": "A dog", "url": "x"}\n{"other": 1}\nnot json\n{"caption": "caf\\u00e9 \\ud83d\\ude00"}\n' >in.jsonl
expect_status 0 clippo-render --jsonl --text-field caption -o j.shard in.jsonl
expect_contains "$(cat "$T/.stderr")" "in.jsonl:2: no field 'caption'" "jsonl missing field"
expect_contains "$(cat "$T/.stderr")" "in.jsonl:3: invalid JSON" "jsonl bad line"
[[ "$(cat "$T/.stderr")" == *"in.jsonl:3: in.jsonl:3"* ]] && fail "the bad JSON line named twice"
expect_eq "$(zstd -dc j.shard | tar -xO 000000001.txt)" "café 😀" "jsonl text unescaped"
expect_eq "$(zstd -dc j.shard | tar -t | wc -l)" 5 "jsonl members"

# --- shard input: pgm added, other fields kept, records without txt passed on
$PY - <<'EOF'
import io, tarfile
with tarfile.open("in.tar", "w") as t:
    for name, data in [("a.jpg", b"\xff\xd8fake"), ("a.txt", b"A Caption"), ("a.json", b"{}"),
                       ("b.jpg", b"\xff\xd8only"), ("c.txt", b"Third")]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
EOF
zstd -q -f in.tar -o in.tar.zst
expect_status 0 clippo-render -o s.shard in.tar.zst
expect_eq "$(members s.shard | tr '\n' ' ')" "__clippo__.json a.jpg a.txt a.json a.pgm b.jpg c.txt c.pgm " "shard members"
expect_contains "$(cat "$T/.stderr")" "1 record(s) without txt" "pass-through count"
expect_eq "$(zstd -dc s.shard | tar -xO a.jpg | od -An -tx1 | tr -d ' \n')" "ffd866616b65" "jpg kept"
printf 'A Caption' >a.txt && clippo-render --raw -o a1.raw a.txt
zstd -dc s.shard | tar -xO a.pgm | tail -c $((224 * 224)) >a2.raw
cmp -s a1.raw a2.raw || fail "shard record rendered differently from the same line"
# the same shard on a pipe and on a redirected stdin
cat in.tar.zst | clippo-render -q -o p.shard
cmp -s <(zstd -dc s.shard) <(zstd -dc p.shard) || fail "shard on a pipe"
clippo-render -q -o r.shard <in.tar
cmp -s <(zstd -dc s.shard) <(zstd -dc r.shard) || fail "shard on redirected stdin"

# --- split output with sizes.json
expect_status 0 clippo-render -o 'split-{0..1}.shard' in.txt
# (the folder's other shards keep their entries)
expect_eq "$($PY -c "import json; s = json.load(open('sizes.json')); print(s['split-0.shard'], s['split-1.shard'], s['out.shard'])")" \
  "2 2 4" "sizes.json"

# --- PNG files and terminal art
expect_status 0 clippo-render --png pngs --size 64 in.txt
expect_eq "$(ls pngs | tr '\n' ' ')" "000000000.png 000000001.png 000000002.png 000000003.png 000000004.png " "png files"
$PY -c "
import struct
d = open('pngs/000000000.png', 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n'
w, h, depth, color = struct.unpack('>IIBB', d[16:26])
assert (w, h, depth, color) == (64, 64, 8, 0), (w, h, depth, color)
" || fail "png header"
# A shard's keys are paths under --png DIR too: none may lead out of it.
$PY -c "
import io, os, tarfile
t = tarfile.open('evil.tar', 'w')
for name in [os.path.abspath('victim.txt'), '../escaped.txt', 'a/../../up.txt', 'ok/fine.txt']:
    ti = tarfile.TarInfo(name); ti.size = 2; t.addfile(ti, io.BytesIO(b'hi'))
t.close()"
mkdir -p evil_pngs
expect_status 0 clippo-render evil.tar --png evil_pngs/
expect_eq "$(cd evil_pngs && find . -type f | sort | tr '\n' ' ')" "./ok/fine.png " "the one key inside --png DIR"
for f in victim.png escaped.png up.png; do [ -e "$f" ] && fail "a shard key led --png to write $f"; done
expect_contains "$(cat "$T/.stderr")" "evil.tar: ../escaped: bad key: an empty, '.' or '..' folder" "a '..' key from a shard"
expect_contains "$(cat "$T/.stderr")" "bad key: starts or ends with '/'" "an absolute key from a shard"
# Text and shards in one run would repeat keys (both start at 000000000).
printf 'one\ntwo\n' >two.txt
expect_status 2 clippo-render two.txt evil.tar -o mix.shard
expect_contains "$(cat "$T/.stderr")" "evil.tar: a shard after text: the keys of the two could repeat" "text and shards mixed"
[ -e mix.shard ] && fail "a refused mix left its output"

art=$(echo "Hi" | clippo-render --show)
expect_contains "$art" "█" "terminal art"
expect_eq "$(echo "Hi" | clippo-render --show | wc -l)" 7 "art rows: ink rows 2-13 of the line in half blocks, then a blank line"

# --- options and errors
expect_status 2 clippo-render --size 0 in.txt
expect_contains "$(cat "$T/.stderr")" "--size" "size error"
expect_status 2 clippo-render --tsv --jsonl in.txt
expect_status 2 clippo-render --text-field text in.txt -o tf.shard
expect_contains "$(cat "$T/.stderr")" "--text-field names the field of --jsonl input" "--text-field without --jsonl"
expect_status 1 clippo-render --font /nonexistent.hex -o x.shard in.txt
expect_contains "$(cat "$T/.stderr")" "/nonexistent.hex" "font error"
expect_status 1 clippo-render -o x.shard missing.txt
expect_contains "$(cat "$T/.stderr")" "missing.txt" "missing input"
# two --font files: the second adds glyphs (a private-use glyph here)
printf 'E000:%s\n' "$(printf 'FF%.0s' $(seq 16))" >extra.hex
printf '\xee\x80\x80\n' >pua.txt
clippo-render --raw --size 32 -o one.raw pua.txt
clippo-render --raw --size 32 --font /usr/share/unifont/unifont.hex --font extra.hex -o two.raw pua.txt
cmp -s one.raw two.raw && fail "--font extra.hex changed nothing"
$PY -c "
import numpy as np
a = np.fromfile('two.raw', np.uint8).reshape(32, 32)
assert (a[:16, :8] == 0).all() and (a[:16, 8:] == 127).all() and (a[16:] == 127).all(), a[:16]
" || fail "extra glyph placement"
# random bytes never crash
head -c 2000000 /dev/urandom >random.bin
expect_status 0 clippo-render --raw -o /dev/null random.bin
expect_status 0 clippo-render --tsv -q -o /dev/null random.bin
expect_status 0 clippo-render --jsonl -q -o /dev/null random.bin
[ -c /dev/null ] || fail "-o /dev/null replaced /dev/null"
# --- a key given twice in --tsv input: the second is skipped and named
printf 'k1\ta\nk2\tb\nk1\tc\n' >dup.tsv
expect_status 0 clippo-render --tsv dup.tsv -o dup.shard
expect_contains "$(cat .stderr)" "dup.tsv:3: key 'k1' again (skipped)" "repeated --tsv key"
expect_eq "$(members dup.shard | grep -c pgm)" "2" "one image per key"
# --- SIGINT while standard input stalls, with lines or a shard on it
expect_stop_on_stall "lines on a stalled pipe" in.txt clippo-render -o stall-l.shard
# (in.txt's last line has no newline: on a pipe still open it is no whole line yet)
expect_eq "$(members stall-l.shard | grep -c pgm)" "3" "the whole lines read before the stall are rendered, no part of one"
expect_stop_on_stall "a shard on a stalled pipe" s.shard clippo-render -o stall-s.shard
expect_eq "$(members stall-s.shard | grep -c pgm)" "$(members s.shard | grep -c txt)" \
  "every record of a shard read before the stall is rendered, the last too"

# --- text that is not UTF-8: drawn as U+FFFD in images, kept out of shards
printf 'good\nbad \xff here\nok\n' >latin.txt
expect_status 0 clippo-render latin.txt -o latin.shard
expect_contains "$(cat .stderr)" "latin.txt:2: text is not valid UTF-8" "invalid UTF-8 line named"
expect_eq "$(members latin.shard | grep -c txt)" "2" "the other lines are kept"
expect_status 1 clippo-render --on-error fail latin.txt -o latin-fail.shard
expect_status 0 clippo-render --raw --size 32 latin.txt -o latin.raw
expect_eq "$(stat -c %s latin.raw)" $((3 * 32 * 32)) "raw output keeps one image per line"
mkdir -p nonutf && printf 'a\xfeb' >nonutf/k1.txt && printf 'fine' >nonutf/k2.txt && tar -cf nonutf.tar -C nonutf k1.txt k2.txt
expect_status 0 clippo-render nonutf.tar -o nonutf.shard
expect_contains "$(cat .stderr)" "nonutf.tar: k1: text is not valid UTF-8" "invalid UTF-8 shard record named"
expect_eq "$(members nonutf.shard | tr '\n' ' ')" "__clippo__.json k2.txt k2.pgm " "only the UTF-8 record is rendered"

# --- the same shard bytes for any --threads (zstd's threaded format always)
seq 1 3000 >many.txt
clippo-render -q --size 32 --threads 1 -o t1.shard many.txt && clippo-render -q --size 32 --threads 2 -o t2.shard many.txt
cmp -s t1.shard t2.shard || fail "compressed shards differ between --threads 1 and 2"

# --- a UTF-8 byte-order mark is not rendered
printf '\xef\xbb\xbfhello\n' | clippo-render --raw --size 16 -o bom.raw
printf 'hello\n' | clippo-render --raw --size 16 -o nobom.raw
cmp -s bom.raw nobom.raw || fail "a byte-order mark changed the rendered image"

# --- SIGINT: what was read is rendered and written complete, then exit 130 ---
# 50 lines arrive, then the writer pauses: the signal ends the wait.
mkfifo slow.fifo
(seq 1 50; exec sleep 20) >slow.fifo &
feeder=$!
clippo-render slow.fifo --size 16 -o 'int/r-%03d.shard' --shard-size 10 2>int.err &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid
expect_eq "$?" 130 "exit status after SIGINT"
expect_contains "$(cat int.err)" "stopped by signal 2 after 50 image(s)" "SIGINT reported"
expect_eq "$(cat int/sizes.json)" '{"r-000.shard":10,"r-001.shard":10,"r-002.shard":10,"r-003.shard":10,"r-004.shard":10}' \
  "the 50 lines read before the signal, in complete shards"
expect_eq "$(ls -A int | grep -c tmp)" "0" "no temporary files after SIGINT"
kill $feeder 2>/dev/null
done_testing
