# clippo-embed end to end: embeddings of image files, folders, shards, stdin
# and text lines against the float64 numpy reference (tests/ref/model_ref.py:
# big_vision preprocessing and forward pass, render_ref.py for text); bad
# images reported and skipped; --npy, --info, --pre-logits, bf16, float16.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF="$PY $CLIPPO_SOURCE/tests/ref/model_ref.py"
$REF gen ref >/dev/null || { echo "model_ref.py gen failed"; exit 1; }
CK=ref/mu16_32.npz

# Stacks FIELD (img.npy / txt.npy) of every record of a shard, in order, into OUT.npy
# and prints the keys; the header record must come first and name the model.
cat >read_shard.py <<'PYEOF'
import io, json, subprocess, sys, tarfile
import numpy as np
shard, field, out = sys.argv[1:4]
data = open(shard, "rb").read()
if data[:4] == b"\x28\xb5\x2f\xfd":
    data = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
rows, keys, first = [], [], None
with tarfile.open(fileobj=io.BytesIO(data)) as tf:
    for m in tf:
        key, _, f = m.name.partition(".")
        first = first or m.name
        if m.name == "__clippo__.json":
            hdr = json.load(tf.extractfile(m))
            print("header", hdr["model"]["variant"], hdr["model"]["dim"], hdr["dtype"], hdr["model"]["sha256"][:8])
        if f == field:
            rows.append(np.load(io.BytesIO(tf.extractfile(m).read())))
            keys.append(key)
assert first == "__clippo__.json", first
np.save(out, np.stack(rows) if rows else np.zeros((0, 0)))
print("keys", " ".join(keys))
print("dtype", rows[0].dtype if rows else "none")
PYEOF
# close A.npy B.npy TOL: max |a - b| <= TOL (and equal shapes)
close() { $PY -c '
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
assert a.shape == b.shape, (a.shape, b.shape)
d = np.abs(a - b).max() if a.size else 0
assert d <= float(sys.argv[3]), d' "$1" "$2" "$3" || fail "$1 vs $2 differ (tol $3)"; }

# --- OpenMP threads sleep between parallel regions unless the user says otherwise
env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose clippo-embed --help >/dev/null 2>.stderr
expect_contains "$(cat .stderr)" "GOMP_SPINCOUNT = '0'" "passive OpenMP wait policy by default"
OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose clippo-embed --help >/dev/null 2>.stderr
expect_contains "$(cat .stderr)" "OMP_WAIT_POLICY = 'ACTIVE'" "the user's OpenMP wait policy kept"

# --- a folder: good images (odd sizes, a subfolder), a text file named .jpg, an empty file
mkdir -p photos/sub
$REF write-ppm photos/a.ppm 40 30 1
$REF write-ppm photos/b.ppm 64 64 2
$REF write-ppm photos/sub/c.ppm 17 23 3
printf '\xff\xd8\xffnot really a jpeg' >photos/notes.jpg  # a JPEG's first bytes, then text
: >photos/empty.png
expect_status 0 clippo-embed $CK photos/ -o out.shard --threads 2 --batch-size 2
err=$(cat "$T/.stderr")
expect_contains "$err" "warning: photos/notes.jpg: not an image (" "a broken JPEG, with the decoder's reason"
expect_contains "$err" "warning: photos/empty.png: empty file" "empty file"
expect_eq "$(grep -c warning "$T/.stderr")" 2 "warnings"
$PY read_shard.py out.shard img.npy got.npy >shard.txt || fail "reading the output shard"
expect_contains "$(cat shard.txt)" "header mu/16 24 float32" "header"
expect_contains "$(cat shard.txt)" "keys 000000000 000000001 000000004" "keys in input order"
$REF embed-files $CK want.npy photos/a.ppm photos/b.ppm photos/sub/c.ppm
close got.npy want.npy 1e-4
members out.shard >list.txt; grep -q 000000001.json list.txt || fail "file records lack their json (path)"
expect_status 1 clippo-embed $CK photos/ -o fail.shard --on-error fail
expect_contains "$(cat "$T/.stderr")" "error: photos/empty.png: empty file" "--on-error fail"
[ -e fail.shard ] && fail "--on-error fail left an output shard"

# --- --npy: one matrix plus row metadata
expect_status 0 clippo-embed $CK photos/a.ppm photos/b.ppm photos/sub/c.ppm --npy m.npy
close m.npy want.npy 1e-4
expect_eq "$(wc -l <m.jsonl)" 3 "jsonl rows"
expect_contains "$(sed -n 3p m.jsonl)" '"path":"photos/sub/c.ppm"' "jsonl path"
# Through symbolic links (one dangling), as every writer does: the files they
# lead to are written, the links kept, nothing else left.
mkdir -p npyout && ln -s npyout/real.npy mlink.npy && touch npyout/real.jsonl && ln -s npyout/real.jsonl mlink.jsonl
expect_status 0 clippo-embed $CK photos/a.ppm photos/b.ppm photos/sub/c.ppm --npy mlink.npy
[ -L mlink.npy ] && [ -L mlink.jsonl ] || fail "--npy replaced its symbolic links"
expect_status 1 clippo-embed $CK --text photos -o x.shard
expect_contains "$(cat "$T/.stderr")" "photos: cannot read: Is a directory" "a folder given to --text"
# Never over a FIFO or a device (as root, --npy /dev/null would replace /dev/null).
mkfifo npy.fifo
expect_status 1 clippo-embed $CK photos/a.ppm --npy npy.fifo
[ -p npy.fifo ] || fail "--npy replaced a FIFO"
[ -e npy.fifo.jsonl ] && fail "--npy at a FIFO wrote its .jsonl"
expect_contains "$(cat "$T/.stderr")" "npy.fifo: not a regular file" "--npy at a FIFO refused"
cmp -s npyout/real.npy m.npy && cmp -s npyout/real.jsonl m.jsonl || fail "--npy through links wrote other data"
expect_eq "$(ls -A npyout | tr '\n' ' ')" "real.jsonl real.npy " "--npy through links left nothing else"

# --- text lines, from a file and from stdin, against render_ref + the numpy forward
printf 'a photo of a dog\nA PHOTO OF A CAT\n\nüñïçødé ✓ text that wraps over several lines of the tiny 32 px image\n' >lines.txt
$REF embed-text $CK want_txt.npy <lines.txt
expect_status 0 clippo-embed $CK --text lines.txt -o txt.shard
$PY read_shard.py txt.shard txt.npy got_txt.npy >/dev/null || fail "reading the text shard"
close got_txt.npy want_txt.npy 1e-4
expect_status 0 sh -c "clippo-embed $CK --text - < lines.txt > txt2.shard"
$PY read_shard.py txt2.shard txt.npy got_txt2.npy >/dev/null && close got_txt2.npy want_txt.npy 1e-4

# --- a shard with images and captions, from a file and from stdin: both fields embedded,
# other fields carried, image bytes dropped
$PY - <<'PYEOF'
import io, tarfile
with tarfile.open("in.shard", "w") as tf:
    for key, img, cap in [("r0", "photos/b.ppm", "a photo of a dog"), ("r1", "photos/a.ppm", "A PHOTO OF A CAT")]:
        for field, data in [("ppm", open(img, "rb").read()), ("txt", cap.encode()), ("cls", b"3")]:
            ti = tarfile.TarInfo(f"{key}.{field}"); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
PYEOF
expect_status 0 clippo-embed $CK in.shard -o emb.shard
$PY read_shard.py emb.shard img.npy s_img.npy >/dev/null && $PY read_shard.py emb.shard txt.npy s_txt.npy >/dev/null
$PY -c 'import numpy as np; w = np.load("want.npy"); np.save("want_ba.npy", w[[1, 0]]); t = np.load("want_txt.npy"); np.save("want_t01.npy", t[:2])'
close s_img.npy want_ba.npy 1e-4
close s_txt.npy want_t01.npy 1e-4
m=$(members emb.shard | tr '\n' ' ')
expect_contains "$m" "r0.txt r0.cls" "carried fields"
[[ "$m" == *r0.ppm* ]] && fail "image bytes carried without --keep-images"
expect_status 0 sh -c "cat in.shard | clippo-embed $CK - --fields text > stdin.shard"
$PY read_shard.py stdin.shard txt.npy st.npy >/dev/null && close st.npy want_t01.npy 1e-4
[ "$(members stdin.shard | grep -c img.npy)" == 0 ] || fail "--fields text embedded images"
# an embedded shard embedded again: the vectors are this run's only
expect_status 0 clippo-embed $CK emb.shard --fields text -o again.shard
[ "$(members again.shard | grep -c img.npy)" == 0 ] || fail "the earlier run's img.npy carried into the new output"
$PY read_shard.py again.shard txt.npy again_t.npy >/dev/null && close again_t.npy want_t01.npy 1e-4

# --- options: pre-logits, float16 storage, bf16 matmuls, another resolution
expect_status 0 clippo-embed $CK photos/a.ppm --pre-logits --npy pre.npy
expect_eq "$($PY -c 'import numpy as np; print(np.load("pre.npy").shape)')" "(1, 32)" "pre-logits width"
expect_status 0 clippo-embed $CK photos/ --dtype float16 -o f16.shard
$PY read_shard.py f16.shard img.npy f16.npy >f16.txt && expect_contains "$(cat f16.txt)" "dtype float16" "float16 storage"
close f16.npy want.npy 2e-3
expect_status 0 clippo-embed ref/ti16_48.npz photos/a.ppm photos/b.ppm photos/sub/c.ppm --precision bf16 --npy bf.npy
$REF embed-files ref/ti16_48.npz want_ti.npy photos/a.ppm photos/b.ppm photos/sub/c.ppm
bf_min=0.99 && cpu_has_bf16 && bf_min=0.999
$PY -c 'import numpy as np, sys; a, b = np.load("bf.npy"), np.load("want_ti.npy"); c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1); assert c.min() >= float(sys.argv[1]), c' $bf_min || fail "bf16 cosine < $bf_min"

# --- --info
expect_status 0 clippo-embed --info $CK
info=$(cat "$T/.stdout")
expect_contains "$info" $'variant\tmu/16' "info variant"
expect_contains "$info" $'resolution\t32' "info resolution"
expect_contains "$info" $'out_dim\t24' "info out_dim"
expect_contains "$info" "opt (2 arrays" "info extra arrays"
expect_contains "$info" $'loads\tyes' "info: the model loads"
expect_status 0 clippo-embed --info ref/stacked_d3_64.npz --json
expect_contains "$(cat "$T/.stdout")" '"layout":"stacked"' "info json"

# --- text lines that are not UTF-8: txt holds them as rendered (U+FFFD for
# each invalid run), so the shard stays valid and renders again alike
printf 'ab\xffcd\xe2\x82\n' | clippo-embed $CK --text - -o bad8.shard
printf 'ab\xef\xbf\xbdcd\xef\xbf\xbd\n' | clippo-embed $CK --text - -o fffd.shard
expect_eq "$(zstd -dc bad8.shard | tar -xO 000000000.txt | od -An -tx1 | tr -d ' \n')" "6162efbfbd6364efbfbd" \
  "invalid UTF-8 stored as U+FFFD"
$PY read_shard.py bad8.shard txt.npy bad8.npy >/dev/null && $PY read_shard.py fffd.shard txt.npy fffd.npy >/dev/null &&
  close bad8.npy fffd.npy 0 || fail "invalid UTF-8 embeds as its U+FFFD text does"
# --- a damaged shard input: named, and counted in the last line
printf 'a dog\n' | clippo-embed $CK --text - -o one.shard
head -c 300 one.shard >cut.shard
expect_status 0 clippo-embed $CK one.shard cut.shard -o cut.emb.shard
expect_contains "$(cat "$T/.stderr")" "cut.shard: cannot read its first tar header: truncated zstd input" "damaged input named"
expect_contains "$(cat "$T/.stderr")" "1 damaged input(s) cut short" "damaged input counted"

# --- SIGINT: the output, whole or absent, is absent, even shards already
# full; no temporary file is left
mkdir -p many && for i in $(seq 200); do ln -f photos/a.ppm many/$i.ppm; done
clippo-embed $CK many --res 1024 --threads 1 --batch-size 1 --shard-size 2 -o 'out_int/int-%03d.shard' 2>int.err &
pid=$!
for _ in $(seq 300); do [ "$(ls -A out_int 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done  # a shard full
kill -INT $pid
wait $pid
expect_eq "$?" 130 "exit status after SIGINT"
expect_contains "$(cat int.err)" "stopped by signal 2" "SIGINT reported"
expect_eq "$(ls -A out_int 2>/dev/null | wc -l)" "0" "nothing left in the output folder after SIGINT"

# --- SIGINT while standard input stalls: the wait ends, nothing is written
printf 'a dog\n' >dog.txt
expect_stop_on_stall "--text - on a stalled pipe" dog.txt clippo-embed $CK --text - -o stall-t.shard
expect_stop_on_stall "a shard on a stalled pipe" one.shard clippo-embed $CK - -o stall-s.shard
[ -e stall-t.shard ] || [ -e stall-s.shard ] && fail "an interrupted run wrote its output"

# --- a run that fails while writing to stdout leaves a stream that reads as cut, not as whole
clippo-embed $CK photos/a.ppm photos/b.ppm photos/notes.jpg --batch-size 1 --on-error fail -o - >cut.out 2>/dev/null
expect_eq "$?" 1 "exit status of a failed run to stdout"
zstd -dc cut.out 2>/dev/null | tar -t >/dev/null 2>&1 && fail "a failed run's stdout reads as a whole shard"

# --- an output too small: refused before any work for image files, and
# after a partial run (shards) nothing is left
expect_status 2 clippo-embed $CK photos/a.ppm photos/b.ppm photos/sub/c.ppm -o 'small/e-{0..1}.shard' --shard-size 1
expect_contains "$(cat "$T/.stderr")" "3 images, but -o 'small/e-{0..1}.shard' with --shard-size 1 holds at most 2" "too small, said up front"
printf 'a\nb\nc\n' | clippo-render --size 32 -q -o three.shard
expect_status 1 clippo-embed $CK three.shard -o 'small/e-{0..1}.shard' --shard-size 1
expect_contains "$(cat "$T/.stderr")" "more are needed" "too small for a shard's records"
expect_eq "$(ls -A small 2>/dev/null | wc -l)" "0" "no part of a set that failed is left"
expect_status 2 clippo-embed $CK photos/a.ppm --keep-images -o kept.shard
expect_contains "$(cat "$T/.stderr")" "--keep-images carries the images of shard records" "--keep-images for image files"
expect_status 2 clippo-embed $CK photos/a.ppm three.shard -o mix.shard
expect_contains "$(cat "$T/.stderr")" "photos/a.ppm: image files and shards in one run" "image files and shards, whose keys could repeat"

# --- errors
expect_status 1 clippo-embed ref/bad/missing.npz photos/
expect_contains "$(cat "$T/.stderr")" "missing array 'params/img/Transformer/encoderblock_0/MlpBlock_0/Dense_1/kernel'" "missing array"
expect_status 1 clippo-embed nope.npz photos/
expect_contains "$(cat "$T/.stderr")" "nope.npz: no such file" "missing checkpoint"
expect_status 2 clippo-embed $CK photos/ --precision fp8
expect_status 2 clippo-embed $CK
expect_status 2 clippo-embed $CK photos/ --fields pixels
expect_status 2 clippo-embed photos/
expect_contains "$(cat "$T/.stderr")" "photos/: a folder, not a checkpoint (the checkpoint comes first" "a forgotten checkpoint"
expect_status 2 clippo-embed $CK photos/ --benchmark 0
expect_contains "$(cat "$T/.stderr")" "--benchmark 0: must be >= 1" "--benchmark 0 is no silent embedding run"
expect_status 2 clippo-embed $CK photos/ --npy -
expect_status 2 clippo-embed $CK photos/ --fields text --npy t.npy
expect_contains "$(cat "$T/.stderr")" "image files have no text" "--fields text on image files"
expect_status 2 clippo-embed $CK --text - --keep-images --npy t.npy <<<"a dog"
expect_status 0 clippo-embed $CK photos/ --npy newdir/sub/x.npy
[ -f newdir/sub/x.npy ] && [ -f newdir/sub/x.jsonl ] || fail "--npy into a folder that does not exist yet"
expect_status 2 clippo-embed $CK one.shard --npy both.npy
expect_contains "$(cat "$T/.stderr")" "--npy holds one kind of embedding" "--npy on shards without --fields"
$PY -c "
import numpy as np
z = dict(np.load('$CK'))
del z['params/img/head/kernel']
np.savez('nohead.npz', **z)
z = dict(np.load('$CK'))
z['params/img/head/kernel'][:] = np.nan
np.savez('nan.npz', **z)
z = dict(np.load('$CK'))
k = 'params/img/Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel'
z[k] = np.zeros((z[k].shape[0], 100), np.float32)
np.savez('badmlp.npz', **z)
z = dict(np.load('$CK'))
b0 = 'params/img/Transformer/encoderblock_0/'
for b in (1, 2):
    z.update({k.replace('_0/', f'_{b}/', 1): v for k, v in z.items() if k.startswith(b0)})
np.savez('deep3.npz', **z)
del z['params/img/Transformer/encoderblock_1/LayerNorm_0/scale']
np.savez('gap3.npz', **z)"
expect_status 0 clippo-embed --info deep3.npz
expect_contains "$(cat "$T/.stdout")" $'depth\t3' "depth from the blocks' arrays"
expect_status 1 clippo-embed gap3.npz photos/ --npy gap.npy
expect_contains "$(cat "$T/.stderr")" "gap3.npz: missing array 'params/img/Transformer/encoderblock_1/LayerNorm_0/scale'" \
  "a block with an array missing is an error, not a shallower model"
expect_status 1 clippo-embed badmlp.npz photos/ --npy bm.npy
expect_contains "$(cat "$T/.stderr")" "badmlp.npz: array 'params/img/Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel' has shape (32, 100), the model (mu/16) needs (32, 128)" \
  "a misshaped MLP kernel is the array named"
expect_status 1 clippo-embed --info ref/bad/missing.npz
expect_contains "$(cat "$T/.stdout")" $'loads\tno: ' "--info of a checkpoint no model loads from"
expect_contains "$(cat "$T/.stderr")" "missing array 'params/img/Transformer/encoderblock_0/MlpBlock_0/Dense_1/kernel'" "--info says why"
expect_status 1 clippo-embed nohead.npz photos/ --npy nh.npy
expect_contains "$(cat "$T/.stderr")" "nohead.npz: missing array 'params/img/head/kernel' (its head/bias is there)" "head bias without kernel"
expect_status 1 clippo-embed nan.npz photos/ --npy nan.npy
expect_contains "$(cat "$T/.stderr")" "nan.npz: the model's output holds NaN or infinity" "NaN weights"
expect_status 2 clippo-embed $CK photos/ --res 40 --npy r40.npy
expect_contains "$(cat "$T/.stderr")" "--res 40 is not a multiple of $CK's patch size 16" "--res off the patch grid"
# --font is repeatable (one file each) and leaves the checkpoint where it is
expect_status 0 clippo-embed --font /usr/share/unifont/unifont.hex $CK --text - --npy font.npy <<<"a dog"
expect_status 1 clippo-embed $CK --text - --font nope.hex --npy nofont.npy <<<"a dog"
expect_contains "$(cat "$T/.stderr")" "nope.hex: no such font file" "missing --font, once"
cp /usr/share/unifont/unifont.hex my.hex
expect_status 0 clippo-embed $CK --text - --font my.hex -o myfont.shard <<<"a dog"
expect_contains "$(zstd -dc myfont.shard | tar -xO __clippo__.json)" "\"fonts\":[\"$PWD/my.hex\"]" "a relative --font stored absolute in the header"
# A font that does not load is the run's error, not every text record's
echo garbage >bad.hex
expect_status 1 clippo-embed $CK --text - --font bad.hex -o badfont.shard <<<"a dog"
expect_contains "$(cat "$T/.stderr")" "bad.hex" "a font that does not parse is named"
[ ! -e badfont.shard ] || fail "a run whose font does not load left badfont.shard"
done_testing
