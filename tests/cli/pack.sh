# clippo-pack end to end, checked with GNU tar and Python's tarfile.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF=$CLIPPO_SOURCE/tests/ref
dump() { $PY "$REF/shards.py" dump "$@"; }

$PY "$REF/make_images.py" photos a.png:40x30:1 sub.dir/b.png:64x64:2 c.png:300x200:3 d.png:8x8:4
echo "not really a jpeg" > photos/fake.jpg
: > photos/empty.png
printf 'a.png\tA red thing\t3\nsub.dir/b.png\tA blue thing\t1\nc.png\tA big one\t2\nfake.jpg\tfake\t0\nempty.png\tempty\t0\nmissing.png\tgone\t1\nno tab here\nd.png\tbad \xff utf8\t4\n' > captions.tsv

# --- images + TSV: good rows packed, each bad row reported by reason, sizes.json
expect_status 0 clippo-pack --images photos --captions captions.tsv -o out/train-%03d.shard --shard-size 2
expect_eq "$(cat out/sizes.json)" '{"train-000.shard":2,"train-001.shard":1}' "sizes.json"
expect_eq "$(dump out/train-000.shard out/train-001.shard | $PY -c '
import json,sys; print(";".join(r["key"]+"="+r["fields"]["txt"]+"/"+r["fields"]["cls"] for r in map(json.loads, sys.stdin) if r["key"]!="__clippo__"))')" \
  "000000000=A red thing/3;000000001=A blue thing/1;000000002=A big one/2" "records in order with captions and labels"
# the original PNG bytes are kept
expect_eq "$(zstd -dc out/train-000.shard | tar -xO 000000001.png | sha1sum)" "$(sha1sum < photos/sub.dir/b.png)" "original bytes"
err=$(cat "$T/.stderr")
expect_contains "$err" "photos/fake.jpg (captions.tsv:4): not an image" "non-image reported"
expect_contains "$err" "photos/empty.png (captions.tsv:5): not an image" "empty file reported"
expect_contains "$err" "missing.png (captions.tsv:6): unreadable file (cannot read: No such file or directory)" "missing file reported"
expect_contains "$err" "captions.tsv:7: malformed row" "malformed row reported"
expect_contains "$err" "invalid UTF-8" "invalid UTF-8 reported"
expect_contains "$err" "wrote 3 records in 2 shard(s)" "summary"
expect_contains "$err" "5 skipped" "summary counts"
# standard tools read our shards
expect_eq "$(zstd -dc out/train-001.shard | tar -t | head -2 | tr '\n' ' ')" "__clippo__.json 000000002.txt " "GNU tar lists"

# --- --on-error fail: exit 1, nothing half-written under a final name
expect_status 1 clippo-pack --images photos --captions captions.tsv -o fail/x-%03d.shard --shard-size 1 --on-error fail
expect_contains "$(cat "$T/.stderr")" "error:" "fail names the problem"
for f in $(ls fail/x-*.shard 2>/dev/null); do zstd -dc "$f" | tar -t >/dev/null || fail "$f not a complete shard"; done
expect_eq "$(ls -A fail 2>/dev/null | grep -c tmp)" "0" "no temporary files left"

# --- an unreadable captions table: exit 1, no empty shard, an earlier one kept
mkdir -p keep && echo "earlier" >keep/x.shard
expect_status 1 clippo-pack --images photos --captions nothere.tsv -o keep/x.shard
expect_contains "$(cat "$T/.stderr")" "nothere.tsv: cannot read" "unreadable table named"
expect_eq "$(cat keep/x.shard)" "earlier" "earlier shard kept"
# A folder for the table; an empty one packs nothing, and says only that.
expect_status 1 clippo-pack --images photos --captions photos -o keep/x.shard
expect_contains "$(cat "$T/.stderr")" "error: photos: a folder, not a file" "a folder given as the table"
: >none.tsv
expect_status 1 clippo-pack --images photos --captions none.tsv -o keep/x.shard
expect_eq "$(cat "$T/.stderr")" "clippo-pack: error: no records packed" "an empty table"
expect_eq "$(ls -A keep | tr '\n' ' ')" "x.shard " "nothing else written"

# --- sidecar captions, resize, min image size, brace output spread round-robin
$PY "$REF/make_images.py" side a.png:120x80:5 b.png:50x50:6 c.png:90x200:7
echo "first caption" > side/a.txt; echo "second caption" > side/b.txt
expect_status 0 clippo-pack --images side --resize 32 --min-image-size 60 -o 'rs-{0..1}.shard'
expect_contains "$(cat "$T/.stderr")" "side/c.png: missing caption" "image without sidecar"
expect_contains "$(cat "$T/.stderr")" "image too small" "min-image-size"
# An unreadable caption file is that image's alone (root reads any file: the
# run is then another user's, in a folder that user may write).
U=$(mktemp -d /tmp/clippo-unread.XXXXXX) && chmod 755 "$U"
cp side/a.png side/b.png "$U"/ && echo "readable" >"$U/a.txt" && echo "secret" >"$U/b.txt" && chmod 000 "$U/b.txt"
as_other=()
[ "$(id -u)" = 0 ] && chown 65534 "$U" && as_other=(setpriv --reuid=65534 --regid=65534 --clear-groups)
cp "$(command -v clippo-pack)" "$U/"  # (the build's folder may be closed to that user)
expect_status 0 "${as_other[@]}" "$U/clippo-pack" --images "$U" -o "$U/u.shard"
expect_contains "$(cat .stderr)" "$U/b.png: unreadable caption (b.txt: cannot read)" "an unreadable caption file skipped"
expect_contains "$(cat .stderr)" "wrote 1 records" "the other image packed"
rm -rf "$U"
mkdir -p sc && cp side/a.png sc/ && printf 'caf\xe9\n' >sc/a.txt
expect_status 1 clippo-pack --images sc -o sc.shard
expect_contains "$(cat "$T/.stderr")" "sc/a.png (sc/a.txt): invalid UTF-8" "the caption file at fault named"
expect_eq "$(members rs-0.shard | tr '\n' ' ')" "__clippo__.json 000000000.txt 000000000.jpg " "resized to jpg"
expect_eq "$(zstd -dc rs-0.shard | tar -xO 000000000.jpg | head -c 3 | od -An -tx1 | tr -d ' ')" "ffd8ff" "JPEG bytes"
expect_eq "$(cat sizes.json)" '{"rs-0.shard":1,"rs-1.shard":0}' "round-robin sizes"
# sizes.json that cannot be written: an error naming it, the shards kept whole.
mkdir -p nosizes/sizes.json
expect_status 1 clippo-pack --images side --resize 32 -o 'nosizes/s-{0..1}.shard'
expect_contains "$(cat "$T/.stderr")" "error: nosizes/sizes.json: not a regular file" "sizes.json write error"
expect_eq "$(ls -A nosizes | tr '\n' ' ')" "s-0.shard s-1.shard sizes.json " "shards kept, no temporary file left"
expect_eq "$({ members nosizes/s-0.shard; members nosizes/s-1.shard; } | grep -c txt)" 2 "records in the kept shards"

# --- JSONL and CSV tables with field flags; metadata kept as json
mkdir -p j && cp photos/a.png photos/c.png j/
printf '{"file":"a.png","alt":"from jsonl","url":"http://x/a","y":7}\n{"file":"c.png","alt":"second","y":8}\n' > j/pairs.jsonl
expect_status 0 clippo-pack --jsonl j/pairs.jsonl --image-field file --text-field alt --label-field y -o j.shard
expect_eq "$(dump j.shard | $PY -c '
import json,sys
rs=[r for r in map(json.loads, sys.stdin) if r["key"]!="__clippo__"]
print(len(rs), rs[0]["fields"]["txt"], rs[0]["fields"]["cls"], json.loads(rs[0]["fields"]["json"])["url"])')" \
  "2 from jsonl 7 http://x/a" "JSONL fields"
printf 'caption,path\n"a, quoted ""caption""",a.png\n"multi\nline",c.png\n' > j/t.csv
expect_status 0 clippo-pack --csv j/t.csv -o c.shard
expect_eq "$(dump c.shard | $PY -c '
import json,sys; print("|".join(r["fields"]["txt"] for r in map(json.loads, sys.stdin) if r["key"]!="__clippo__"))')" \
  'a, quoted "caption"|multi
line' "CSV quoting"

# --- re-shard a tar written by Python tarfile (webdataset layout), with dots in folder names
cat > spec.json <<'J'
[{"key": "d.v1/k0", "fields": {"txt": "zero", "json": "{}"}},
 {"key": "d.v1/k1", "fields": {"txt": "one", "next.txt": "two"}},
 {"key": "d.v1/k2", "fields": {"txt": ""}}]
J
$PY "$REF/shards.py" write py.tar spec.json
expect_status 0 clippo-pack py.tar --keep-keys -o kept.shard
expect_eq "$(dump kept.shard | $PY -c '
import json,sys; print(";".join(r["key"]+":"+",".join(sorted(r["fields"])) for r in map(json.loads, sys.stdin)))')" \
  "__clippo__:json;d.v1/k0:json,txt;d.v1/k1:next.txt,txt;d.v1/k2:txt" "tarfile tar re-sharded with keys and fields"
# concatenated shards from stdin, filtered by caption length
cat kept.shard kept.shard | clippo-pack - --min-caption-chars 1 -o cat.shard >/dev/null 2>"$T/.stderr"
expect_eq "$(members cat.shard | grep -c '^[0-9]*\.txt$')" "4" "concatenated stream, empty captions filtered"
expect_contains "$(cat "$T/.stderr")" "2 caption too short" "filter counted"
# duplicate keys with --keep-keys are reported
cat kept.shard kept.shard > dup.shard
expect_status 0 clippo-pack dup.shard --keep-keys -o dup-out.shard
expect_contains "$(cat "$T/.stderr")" "duplicate key" "duplicate keys"
# kept keys that would lead out of a folder when extracted are bad input
$PY -c "
import io, tarfile
with tarfile.open('evil.tar', 'w') as t:
    for name in ('../evil.txt', '/abs/x.txt', 'fine.txt'):
        data = b'a caption'
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))"
expect_status 0 clippo-pack evil.tar --keep-keys -o evil-out.shard
expect_contains "$(cat "$T/.stderr")" "evil.tar: ../evil: bad key (an empty, '.' or '..' folder)" "a '..' key kept"
expect_contains "$(cat "$T/.stderr")" "bad key (starts or ends with '/')" "an absolute key kept"
expect_eq "$(members evil-out.shard | tr '\n' ' ')" "__clippo__.json fine.txt " "only the safe key kept"
# a truncated input: the good records before the damage are kept
# (k0's two members take 2048 bytes; the cut falls inside k1)
head -c 3000 py.tar > cut.tar
expect_status 0 clippo-pack cut.tar -o cut.shard
expect_contains "$(cat "$T/.stderr")" "cut.tar" "damage names the file"
expect_contains "$(cat "$T/.stderr")" "wrote 1 records" "the record before the damage kept"
# nothing usable: exit 1, and no empty shard is left
head -c 1000 py.tar > cut0.tar
expect_status 1 clippo-pack cut0.tar -o cut0.shard
expect_contains "$(cat "$T/.stderr")" "no records packed" "nothing packed"
[ -e cut0.shard ] && fail "an empty shard was left"
# where the damage is: a byte of the tar, of the decoded one when compressed;
# an empty file is called one, and noise is not called empty
mkdir -p rnd && head -c 600000 /dev/urandom >rnd/k.bin && tar cf rnd.tar -C rnd k.bin && zstd -q rnd.tar
head -c 300000 rnd.tar.zst >cut.tar.zst
: >empty.tar
expect_status 1 clippo-pack cut.tar.zst empty.tar -o cutz.shard
expect_contains "$(cat "$T/.stderr")" "of its zstd-decoded tar" "damage in a compressed input"
expect_contains "$(cat "$T/.stderr")" "empty.tar: an empty file, not a tar archive" "an empty input"
# Bytes that are not a tar at all: called so, not empty.
head -c 5000 rnd/k.bin >noise.shard && head -c 5000 rnd/k.bin | zstd -q >noise.tar.zst
expect_status 1 clippo-pack noise.shard noise.tar.zst -o noise-out.shard
expect_contains "$(cat "$T/.stderr")" "noise.shard: not a tar archive (nor one compressed with" "noise named"
expect_contains "$(cat "$T/.stderr")" "noise.tar.zst: its zstd-decoded bytes are not a tar archive" "decoded noise named"
expect_status 1 sh -c ': | clippo-pack - -o nothing.shard'  # a pipe's size is unknown: both told
expect_contains "$(cat "$T/.stderr")" "<stdin>: empty, or not a tar archive" "an empty pipe"

# --- shuffle: deterministic per seed, a permutation of the input
for i in $(seq 0 49); do printf 'p%02d.png\tcaption %d\n' $i $i; done > many.tsv
mkdir -p many; for i in $(seq 0 49); do cp photos/a.png many/p$(printf %02d $i).png; done
clippo-pack --images many --captions many.tsv --shuffle --seed 7 -o s1.shard -q
clippo-pack --images many --captions many.tsv --shuffle --seed 7 -o s2.shard -q
clippo-pack --images many --captions many.tsv --shuffle --seed 8 -o s3.shard -q
c1=$(dump s1.shard | grep -o '"txt": "[^"]*"' | tr '\n' ' ')
expect_eq "$c1" "$(dump s2.shard | grep -o '"txt": "[^"]*"' | tr '\n' ' ')" "same seed, same order"
[ "$c1" != "$(dump s3.shard | grep -o '"txt": "[^"]*"' | tr '\n' ' ')" ] || fail "another seed, another order"
expect_eq "$(dump s1.shard | grep -o '"txt": "[^"]*"' | sort | uniq | wc -l)" "50" "a permutation"

# --- documents to neighbouring-sentence pairs
printf '{"text": "Dr. Smith arrived. He paid $3.50 for tea! Then he left."}\n{"text": "One sentence only."}\n' > docs.jsonl
printf 'First doc here. Second sentence.\n\nOther doc. Its end.\n' > docs.txt
expect_status 0 clippo-pack --sentences docs.jsonl docs.txt -o pairs.shard
expect_eq "$(dump pairs.shard | $PY -c '
import json,sys; print("|".join(r["fields"]["txt"]+">"+r["fields"]["next.txt"] for r in map(json.loads, sys.stdin) if r["key"]!="__clippo__"))')" \
  'Dr. Smith arrived.>He paid $3.50 for tea!|He paid $3.50 for tea!>Then he left.|First doc here.>Second sentence.|Other doc.>Its end.' "sentence pairs"

# a text field that is not a string is a malformed row; a write error is no
# bad input but the end of the run
printf '{"text": 5}\n{"text": "Fine here. And here."}\n' >docs-num.jsonl
expect_status 0 clippo-pack --sentences docs-num.jsonl -o pairs-num.shard
expect_contains "$(cat .stderr)" "docs-num.jsonl:1: malformed row (field 'text' is 5, not a string)" "non-string text field"
$PY -c "
import json
with open('bigdocs.jsonl', 'w') as f:
    for i in range(500):
        f.write(json.dumps({'text': ' '.join(f'Sentence {j} of document {i}.' for j in range(20))}) + '\n')"
expect_status 1 clippo-pack --sentences bigdocs.jsonl --compression none -o /dev/full
expect_contains "$(cat .stderr)" "No space left on device" "a full disk is reported as such"
# --shuffle mixes the pairs of a stream of documents: the same pairs, in
# another order that the seed fixes.
pairs_of() { dump "$1" | grep -o '"next.txt": "[^"]*", "txt": "[^"]*"'; }
clippo-pack -q --sentences bigdocs.jsonl -o bigpairs.shard || fail "clippo-pack --sentences"
clippo-pack -q --sentences bigdocs.jsonl --shuffle --shuffle-buffer 1000 -o bigpairs-s1.shard || fail "--sentences --shuffle"
clippo-pack -q --sentences bigdocs.jsonl --shuffle --shuffle-buffer 1000 -o bigpairs-s2.shard || fail "--sentences --shuffle"
expect_eq "$(pairs_of bigpairs-s1.shard | sort | md5sum)" "$(pairs_of bigpairs.shard | sort | md5sum)" "shuffled pairs are the pairs"
[ "$(pairs_of bigpairs-s1.shard | md5sum)" != "$(pairs_of bigpairs.shard | md5sum)" ] || fail "--shuffle left the pairs in order"
expect_eq "$(pairs_of bigpairs-s1.shard | md5sum)" "$(pairs_of bigpairs-s2.shard | md5sum)" "the same seed shuffles pairs alike"
expect_eq "$(pairs_of bigpairs.shard | wc -l)" 9500 "the pairs of 500 documents of 20 sentences"
case "$(cat .stderr)" in *"malformed row"*) fail "a write error was reported as a malformed row" ;; esac

# --- stdout: one stream, readable by tar; never to a terminal
clippo-pack --images side -o - 2>/dev/null | zstd -dc | tar -t > list.txt
expect_eq "$(grep -c '\.txt$' list.txt)" "2" "shard stream on stdout"

# --- an interrupted run leaves only complete shards and no temporary files
# (interrupted once its first shard is complete, far from the end)
$PY -c "
import os
os.makedirs('big')
for i in range(4000):
    os.link('photos/c.png', f'big/i{i}.png')
    open(f'big/i{i}.txt', 'w').write(f'caption {i}')"
clippo-pack --images big --resize 64 --threads 1 -o 'int/x-%03d.shard' --shard-size 50 2>int.err & pid=$!
for _ in $(seq 600); do [ -e int/x-000.shard ] && break; sleep 0.05; done
kill -INT $pid; wait $pid
expect_eq "$?" 130 "exit status after SIGINT"
expect_contains "$(cat int.err)" "stopped by signal 2" "SIGINT reported"
for f in int/x-*.shard; do zstd -dc "$f" | tar -t >/dev/null || fail "$f incomplete after SIGINT"; done
expect_eq "$(ls -A int | grep -c tmp)" "0" "no temporary files after SIGINT"
[ -f int/sizes.json ] || fail "sizes.json written after SIGINT"
$PY -c "
import json
n = sum(json.load(open('int/sizes.json')).values())
assert 50 <= n < 4000, n" || fail "records after SIGINT: sizes.json should count the complete shards only"
# --- SIGINT while a pipe stalls: the wait ends, and the records read are
# written (a stream cannot give them again), also those a --shuffle holds
zstd -dc int/x-000.shard >stall.tar
expect_stop_on_stall "tar on a stalled pipe" stall.tar clippo-pack - -o stall/s.shard
expect_contains "$(cat .stderr)" "stopped by signal 2" "SIGINT on a stalled pipe reported"
expect_eq "$(ls -A stall 2>/dev/null | grep -c tmp)" "0" "no temporary files after SIGINT on a stalled pipe"
expect_eq "$(dump stall/s.shard | grep -vc __clippo__)" 50 "the records read before SIGINT on a stalled pipe"
expect_stop_on_stall "a shuffled tar on a stalled pipe" stall.tar clippo-pack - --shuffle -o stall/shuffled.shard
expect_eq "$(dump stall/shuffled.shard | grep -vc __clippo__)" 50 "the records a --shuffle held at SIGINT"
printf 'One sentence here. Another one there.\n' >stall.txt
expect_stop_on_stall "--sentences on a stalled pipe" stall.txt clippo-pack --sentences - -o stall/t.shard
# A named pipe that no writer ever opens: SIGINT ends the wait for one.
mkfifo nowriter.fifo
clippo-pack nowriter.fifo -o stall/f.shard >/dev/null 2>"$T/.stderr" &
expect_sigint_ends "a FIFO with no writer" $!
[ -e stall/f.shard ] && fail "SIGINT before any record left stall/f.shard"
expect_status 2 clippo-pack --images big --shuffle-buffer 0 -o x.shard
expect_status 2 clippo-pack --images big --min-caption-chars -1 -o x.shard
expect_status 2 clippo-pack --images big --shard-size -1 -o 'x-%d.shard'
expect_status 2 clippo-pack --images big --shuffle --seed -1 -o x.shard  # not read as 2^64-1
expect_contains "$(cat "$T/.stderr")" "--seed -1: must be >= 0" "a negative seed"

# --- folders: a link loop, a broken link and unread formats are reported, not fatal
mkdir -p lp/a && cp photos/c.png lp/a/ && echo "a cat" >lp/a/c.txt && ln -s .. lp/a/loop && ln -s /nonexistent lp/a/gone.png
: >lp/a/x.bmp; : >lp/a/y.gif
expect_status 0 clippo-pack --images lp -o lp.shard
expect_contains "$(cat .stderr)" "lp/a/loop: a directory already listed (a link loop?), not entered" "link loop"
expect_contains "$(cat .stderr)" "lp/a/gone.png: a broken link, skipped" "broken link"
expect_contains "$(cat .stderr)" "lp: 1 .bmp file(s) skipped" "unread image formats"
expect_contains "$(cat .stderr)" "wrote 1 records" "the one image packed"

# --- a UTF-8 byte-order mark (Excel, Notepad) starts no path, caption or header
mkdir -p bom && cp photos/c.png bom/c.png
printf '\xef\xbb\xbfc.png\ta cat\n' >bom/c.tsv
printf '\xef\xbb\xbfpath,caption\nc.png,a cat\n' >bom/c.csv
expect_status 0 clippo-pack --images bom --captions bom/c.tsv -o bom-tsv.shard
expect_status 0 clippo-pack --csv bom/c.csv -o bom-csv.shard
printf '\xef\xbb\xbfa cat' >bom/c.txt
expect_status 0 clippo-pack --images bom -o bom-side.shard
for f in bom-tsv bom-csv bom-side; do
  expect_eq "$(zstd -dc $f.shard | tar -xO --wildcards '*.txt' | od -An -c | head -1 | tr -s ' ')" " a c a t" "$f caption without the BOM"
done

# --- a shorter run into the folder of a longer one: the leftover shards are pointed out
mkdir -p three && for i in 1 2 3; do cp photos/c.png three/$i.png; echo "cat $i" >three/$i.txt; done
expect_status 0 clippo-pack --images three -o 'ov/s-{0..2}.shard'
expect_status 0 clippo-pack --images three -o 'ov/s-{0..1}.shard'
expect_contains "$(cat .stderr)" "1 shard(s) of the same name pattern from an earlier run remain beside these (ov/s-2.shard)" "leftover shards"
expect_status 2 clippo-pack --images three -o 'x-{0..99999999999999999999}.shard'
expect_contains "$(cat .stderr)" "range {0..99999999999999999999} is too large" "a brace range past 64 bits"
# a file whose name holds braces is read as it is named
cp ov/s-0.shard 'set{1}.shard'
expect_status 0 clippo-pack 'set{1}.shard' -o literal.shard
# --- -o naming a folder: a usage error before any work
mkdir -p outdir
expect_status 2 clippo-pack --images three -o outdir
expect_contains "$(cat .stderr)" "output 'outdir' is a folder: name a shard file in it, such as 'outdir/train-{000..003}.shard'" "-o folder"
expect_status 2 clippo-pack --images three -o newdir/
[ -e newdir ] && fail "-o with a trailing slash made a folder"
# -o below a file: the system's reason, with the path it is about.
touch plainfile
expect_status 1 clippo-pack --images three -o plainfile/sub/x.shard
expect_eq "$(cat .stderr)" "clippo-pack: error: plainfile/sub/x.shard: cannot create folder plainfile/sub: Not a directory" "-o below a file"
# --- a null caption is named as absent or null
printf '{"path":"1.png","caption":null}\n' >three/null.jsonl
expect_status 1 clippo-pack --jsonl three/null.jsonl -o null.shard
expect_contains "$(cat .stderr)" "missing caption (field 'caption' is absent or null)" "null caption"
# --- field options where there are no fields are refused, not ignored
expect_status 2 clippo-pack --images three --label-field cls -o fields.shard
expect_contains "$(cat .stderr)" "sidecar captions have no fields" "--label-field with sidecars"
expect_status 2 clippo-pack ov/s-0.shard --image-field img -o fields.shard
expect_contains "$(cat .stderr)" "--image-field names a field of a CSV/JSONL table" "--image-field with tars"
[ -e fields.shard ] && fail "a refused field option wrote a shard"
expect_status 0 clippo-pack --images three -o 'ov/single-1.shard'
expect_status 0 clippo-pack --images three -o 'ov/single-2.shard'
case "$(cat .stderr)" in *"same name pattern"*) fail "a single named shard is no set with leftovers" ;; esac
expect_status 2 clippo-pack --images three --shard-size 1 -o 'small/x-{0..1}.shard'
expect_contains "$(cat .stderr)" "3 items, but -o 'small/x-{0..1}.shard' with --shard-size 1 holds at most 2" "output too small, said before any work"
[ -e small ] && fail "the too-small output was begun"

# --- re-sharding: a record with neither image nor text (a json alone) is dropped and named
cat > lone.json <<'J'
[{"key": "k0", "fields": {"json": "{}"}}, {"key": "k1", "fields": {"txt": "one"}}]
J
$PY "$REF/shards.py" write lone.tar lone.json
expect_status 0 clippo-pack lone.tar -o lone.shard
expect_contains "$(cat .stderr)" "lone.tar: k0" "the json-only record named"
expect_contains "$(cat .stderr)" "wrote 1 records" "the text record kept"

# --- tables: JSONL values of the wrong type and CSV rows of the wrong width are named
printf '{"path": "c.png", "caption": 42}\n{"path": "c.png", "caption": ["a", "b"]}\n["c.png"]\n{"path": "c.png", "caption": "ok"}\n' >bom/t.jsonl
expect_status 0 clippo-pack --jsonl bom/t.jsonl -o types.shard
expect_contains "$(cat .stderr)" "t.jsonl:1" "number caption reported"
expect_contains "$(cat .stderr)" "field 'caption' is 42, not a string" "number caption named"
expect_contains "$(cat .stderr)" "not a JSON object" "a JSON list"
expect_contains "$(cat .stderr)" "wrote 1 records" "the good row packed"
printf 'path,caption\nc.png,a cat,extra\nc.png,a cat\n' >bom/w.csv
expect_status 0 clippo-pack --csv bom/w.csv -o width.shard
expect_contains "$(cat .stderr)" "3 columns, header has 2" "a CSV row with an extra column"
printf 'path,caption\nc.png,"two\nlines"\nc.png\n' >bom/ml.csv
expect_status 0 clippo-pack --csv bom/ml.csv -o ml.shard
expect_contains "$(cat .stderr)" "ml.csv:4: malformed row" "the line of a row after a quoted line break"
printf 'path,caption\nc.png,a cat\nc.png,"unterminated\r\n' >bom/uq.csv
expect_status 0 clippo-pack --csv bom/uq.csv -o uq.shard
expect_contains "$(cat .stderr)" "uq.csv:3: malformed row (a quoted field is not closed: it runs to the end of the file)" \
  "a CSV quote that does not close"
expect_contains "$(cat .stderr)" "wrote 1 records" "the rows before an unclosed quote packed"

# --- a caption of spaces is no caption for --min-caption-chars
printf '   ' >bom/c.txt
expect_status 1 clippo-pack --images bom --min-caption-chars 1 -o spaces.shard
expect_contains "$(cat .stderr)" "caption too short" "caption of spaces"
printf 'a cat' >bom/c.txt

# --- to standard output: the summary says so (not "0 B")
clippo-pack --images bom -o - 2>stdout.err | cat >piped.shard
expect_contains "$(cat stdout.err)" "wrote 1 records to standard output" "summary for stdout"

# --- a full disk: the shard it cut short is named, and not left under its name
# (a small file system of its own: a tmpfs, so as root)
if [ "$(id -u)" = 0 ] && mkdir -p full && mount -t tmpfs -o size=300k tmpfs full 2>/dev/null; then
  seq 1 20000 | clippo-render --threads 1 -q -o lines.shard
  expect_status 1 clippo-pack lines.shard -o 'full/p-%03d.shard' --shard-size 500 -q --threads 1
  expect_contains "$(cat .stderr)" ".shard: write failed (" "the shard a full disk cut short named"
  for f in full/p-*.shard; do zstd -tq "$f" || fail "$f, cut short by a full disk, left under its name"; done
  umount full
else
  echo "note: cannot mount a tmpfs here (not root, or not allowed): the full-disk case is left out"
fi

# --- usage errors exit 2
expect_status 2 clippo-pack -o x.shard
expect_status 2 clippo-pack --images photos --jsonl j/pairs.jsonl -o x.shard
expect_status 2 clippo-pack --images photos --bogus -o x.shard
expect_status 2 clippo-pack --images photos -q -v -o x.shard
expect_contains "$(cat "$T/.stderr")" "give -q (less on stderr) or -v (more), not both" "-q with -v"
expect_status 2 clippo-pack --images photos --compression lz4 -o x.shard
done_testing
