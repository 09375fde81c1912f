# clippo-knn with the model: text and image queries, and zero-shot from class
# names and prompts, embedded by clippo-knn itself and checked against
# database vectors computed in numpy (tests/ref: random mu/16 checkpoint,
# numpy renderer and forward pass). Then the pipe from clippo-embed.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
$PY "$CLIPPO_SOURCE/tests/ref/search_ref.py" model-db .

# rank 1 is the same text embedded by numpy: cosine 1 up to float32 rounding
expect_status 0 clippo-knn --db model_db.shard --field txt --query "a cat on a sofa" --query "a dog" -k 2
out=$(cat "$T/.stdout")
expect_eq "$(cut -f1,2,4,5 <<<"$out" | sed -n 1p)" "$(printf 'a cat on a sofa\t1\tt2\ta cat on a sofa')" "text query, rank 1"
expect_eq "$(cut -f1,2,4 <<<"$out" | sed -n 3p)" "$(printf 'a dog\t1\tt0')" "second text query"
awk -F'\t' '$2 == 1 && $3 < 0.99999 { exit 1 }' <<<"$out" || fail "rank-1 scores are not ~1: $out"
# --queries FILE, and the header's checkpoint overridden by --model
printf 'lighthouse at night\n\na red car\n' > q.txt
mv mu16_32.npz moved.npz
expect_status 1 clippo-knn --db model_db.shard --field txt --queries q.txt -k 1
expect_contains "$(cat "$T/.stderr")" "mu16_32.npz" "missing checkpoint named"
expect_status 0 clippo-knn --db model_db.shard --field txt --queries q.txt -k 1 --model moved.npz --json
expect_eq "$(grep -o '"key":"t[0-9]"' "$T/.stdout" | tr '\n' ' ')" '"key":"t3" "key":"t1" ' "--queries with --model"
expect_status 0 sh -c 'printf "a dog\n" | clippo-knn --db model_db.shard --field txt --queries - -k 1 --model moved.npz'
expect_eq "$(cut -f1,4 "$T/.stdout")" "$(printf 'a dog\tt0')" "--queries - reads stdin"
expect_status 2 sh -c 'cat model_db.shard | clippo-knn --queries - --model moved.npz'

# an image query finds the image numpy embedded
expect_status 0 clippo-knn --db model_db.shard --query-image i1.png -k 3 --model moved.npz
expect_eq "$(cut -f2,4,5 "$T/.stdout" | head -1)" "$(printf '1\ti1\ti1.png')" "image query"
awk -F'\t' '$2 == 1 && $3 < 0.99999 { exit 1 }' "$T/.stdout" || fail "image score is not ~1: $(cat "$T/.stdout")"
expect_status 1 clippo-knn --db model_db.shard --query-image q.txt --model moved.npz
expect_contains "$(cat "$T/.stderr")" "q.txt: " "a non-image query names the file"

# zero-shot from class names: each text record is its own class ("{}" prompt);
# with the bundled clip7 prompts the classes still separate these four texts
printf '{}\n' > plain.txt
expect_status 0 clippo-knn zeroshot --db model_db.shard --field txt --classes texts.txt --prompts plain.txt --model moved.npz
expect_eq "$(sed -n 3p "$T/.stdout")" "$(printf 'top1\t1.000000')" "zero-shot with the model"
grep -q '^top5' "$T/.stdout" && fail "top-5 of 4 classes, a hit for every record, was reported"
expect_status 0 clippo-knn zeroshot --db model_db.shard --field txt --classes texts.txt --prompts clip7 --model moved.npz --json
expect_contains "$(cat "$T/.stdout")" '"records":4,"classes":4' "zero-shot with clip7"
expect_contains "$(cat "$T/.stdout")" '"top5":null' "no top-5 measure in JSON with 4 classes"
mv moved.npz mu16_32.npz

# an index directory keeps the header: its queries find the model too
expect_status 0 clippo-knn build --db model_db.shard --field txt -o text.index
expect_status 0 clippo-knn --index text.index --query "lighthouse at night" -k 1
expect_eq "$(cut -f4 "$T/.stdout")" "t3" "text query on an index directory"

# The header's checkpoint rewritten since the database was embedded (training
# resumed in its workdir) would embed queries in another space: refused; as
# --model, a warning; the original again, neither.
cp mu16_32.npz orig.npz
$PY -c "
import numpy as np
a = dict(np.load('orig.npz'))
k = next(n for n in a if n.endswith('head/kernel'))
a[k] = a[k] * 2
np.savez('mu16_32.npz', **a)"
expect_status 1 clippo-knn --db model_db.shard --field txt --query "a dog" -k 1
expect_contains "$(cat "$T/.stderr")" "mu16_32.npz: not the checkpoint the database was embedded with" "a rewritten checkpoint refused"
expect_status 0 clippo-knn --db model_db.shard --field txt --query "a dog" -k 1 --model mu16_32.npz
expect_contains "$(cat "$T/.stderr")" "its query embeddings may not match the database's" "another --model warned of"
mv orig.npz mu16_32.npz
expect_status 0 clippo-knn --db model_db.shard --field txt --query "a dog" -k 1 --model mu16_32.npz
[[ "$(cat "$T/.stderr")" == *"not the checkpoint"* ]] && fail "the database's own checkpoint warned of"

# the pipe: clippo-embed's stream carries the model in its header
if command -v clippo-embed >/dev/null; then
  mkdir imgs && cp i0.png i1.png i2.png imgs/
  expect_status 0 sh -c 'clippo-embed mu16_32.npz imgs | clippo-knn --query-image i2.png -k 1'
  expect_contains "$(cut -f4,5 "$T/.stdout")" "i2" "clippo-embed | clippo-knn --query-image"
  awk -F'\t' '$3 < 0.99999 { exit 1 }' "$T/.stdout" || fail "pipe score is not ~1: $(cat "$T/.stdout")"
  expect_status 0 sh -c 'clippo-embed mu16_32.npz imgs | clippo-knn --query "a dog" -k 3'
  expect_eq "$(wc -l <"$T/.stdout")" "3" "clippo-embed | clippo-knn --query"
  # A caption's control characters (ESC, BEL) do not reach the terminal.
  expect_status 0 sh -c 'printf "red\033[31m alert\007 \302\2332J\n" | clippo-embed mu16_32.npz --text - -o esc.shard'
  expect_status 0 clippo-knn --db esc.shard --query red -k 1
  expect_eq "$(cut -f5 "$T/.stdout")" "red [31m alert   2J" "control characters (C0 and C1) in a TSV cell"
  # One checkpoint's vectors before its head are another space: not mixed.
  expect_status 0 clippo-embed mu16_32.npz imgs -o head.shard
  expect_status 0 clippo-embed mu16_32.npz imgs --pre-logits -o pre.shard
  expect_status 1 clippo-knn --db head.shard --db pre.shard --query-image i2.png -k 1
  expect_contains "$(cat "$T/.stderr")" "(pre-logits)" "pre-logits and head embeddings of one checkpoint mixed"
  # A folder as an image query: named, not a C++ library message.
  expect_status 1 clippo-knn --db head.shard --query-image imgs -k 1
  expect_eq "$(cat "$T/.stderr")" "clippo-knn: error: imgs: a folder, not a file" "a folder as --query-image"
else
  echo "clippo-embed is not built: pipe test skipped" >&2
fi
done_testing
