# clippo-knn on vectors: exact search against a numpy brute force (ties
# included), stdin streams, FAISS index directories, zero-shot and retrieval
# numbers on hand-made sets and against numpy.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF="$PY $CLIPPO_SOURCE/tests/ref/search_ref.py"

# --- exact search, integer vectors: every tie is a real tie, broken by the lower row
mkdir ints floats few
$REF gen ints --ints --n 3000 --dim 24 --nq 30 --seed 1
expect_status 0 clippo-knn --db ints/db.shard --query-emb ints/q.shard -k 10 --no-normalize
cp "$T/.stdout" ints.tsv
$REF check-exact ints ints.tsv --k 10 --no-normalize >ref.out || fail "integer search differs from numpy: $(tail -5 ref.out)"
ties=$(awk -F'\t' '$1==p && $3==s {n++} {p=$1; s=$3} END {print n+0}' ints.tsv)
[ "$ties" -gt 20 ] || fail "the tie test has only $ties tied neighbours"
# Results that cannot all be written (a full disk) are an error, not exit 0.
clippo-knn --db ints/db.shard --query-emb ints/q.shard -k 10 --no-normalize >/dev/full 2>full.err
expect_eq "$?" 1 "exit status of a search whose results did not all get written"
expect_contains "$(cat full.err)" "clippo-knn: error: <stdout>: write failed" "results cut short named"
clippo-knn --help >/dev/full 2>/dev/null
expect_eq "$?" 1 "exit status of --help that could not be written"

# --- float16 vectors, normalised (cosine), k larger than a block boundary
$REF gen floats --f16 --n 5000 --dim 48 --nq 25 --seed 2
expect_status 0 clippo-knn --db floats/db.shard --query-emb floats/q.shard -k 50 --threads 2
cp "$T/.stdout" floats.tsv
$REF check-exact floats floats.tsv --k 50 >ref.out || fail "float16 search differs from numpy: $(tail -5 ref.out)"

# --- the database on stdin gives the same answer; so does a Flat index directory.
# The same thread count: BLAS may round the last bit differently with another.
expect_status 0 sh -c "cat floats/db.shard | clippo-knn --query-emb floats/q.shard -k 50 --threads 2"
expect_eq "$(md5sum <"$T/.stdout")" "$(md5sum <floats.tsv)" "stdin stream = --db"
expect_status 0 clippo-knn floats/db.shard --query-emb floats/q.shard -k 50 --threads 2
expect_eq "$(md5sum <"$T/.stdout")" "$(md5sum <floats.tsv)" "shards as arguments = --db"
expect_status 0 clippo-knn build --db floats/db.shard --index-type Flat -o flat.index
for f in index.faiss meta.shard index.json; do [ -f flat.index/$f ] || fail "index dir lacks $f"; done
expect_status 0 clippo-knn --index flat.index --query-emb floats/q.shard -k 50
cp "$T/.stdout" flat.tsv
$REF check-exact floats flat.tsv --k 50 >ref.out || fail "Flat index search differs from numpy: $(tail -5 ref.out)"

# --- IVF index: build, reload, query; with every list probed it is exact
expect_status 0 clippo-knn build --db floats/db.shard --index-type IVF16,Flat --train-size 2000 -o ivf.index
expect_status 0 clippo-knn --index ivf.index --query-emb floats/q.shard -k 10 --nprobe 16
cp "$T/.stdout" ivf.tsv
$REF check-exact floats ivf.tsv --k 10 >ref.out || fail "IVF (all lists) differs from numpy: $(tail -5 ref.out)"
expect_status 0 clippo-knn --index ivf.index --query-emb floats/q.shard -k 10 --nprobe 1 --json
first=$(head -1 "$T/.stdout")
expect_contains "$first" '"query":"q000","rank":1' "JSONL result"
expect_contains "$first" '"text":"caption ' "JSONL caption"
expect_eq "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["factory"])' ivf.index/index.json)" "IVF16,Flat" "index.json factory"
# -q silences FAISS's own k-means warnings too (300 points for 16 lists are few).
$REF gen few --f16 --n 300 --dim 16 --nq 2 --seed 3
expect_status 0 clippo-knn build --db few/db.shard --index-type IVF16,Flat -o few.index -q
expect_eq "$(cat "$T/.stderr")" "" "clippo-knn build -q prints nothing"
# One list of sixteen holds fewer than 1,000 of the vectors: the short answer is said.
expect_status 0 clippo-knn --index ivf.index --query-emb floats/q.shard -k 1000 --nprobe 1
expect_contains "$(cat "$T/.stderr")" "queries found fewer than 1000 results: the index searches --nprobe of its lists" "IVF short of k"
expect_status 0 clippo-knn build --db floats/db.shard --index-type HNSW16 -o hnsw.index
expect_status 0 clippo-knn --index hnsw.index --query-emb floats/q.shard -k 10 --ef-search 400
cp "$T/.stdout" hnsw.tsv
# HNSW is approximate (and its graph depends on thread timing): recall@10 against the exact run
rec=$($PY -c '
import sys
def top(p, k):
    d = {}
    for l in open(p):
        q, r, s, key, _ = l.split("\t")
        if int(r) <= k: d.setdefault(q, set()).add(key)
    return d
e, a = top(sys.argv[1], 10), top(sys.argv[2], 10)
print(sum(len(e[q] & a[q]) for q in e) / (10 * len(e)))' floats.tsv hnsw.tsv)
$PY -c "import sys; sys.exit(0 if $rec >= 0.95 else 1)" || fail "HNSW16 ef 400 recall@10 $rec < 0.95"

# --- zero-shot: hand-made classes where the answer is known (8 of 12 right)
mkdir zs
$REF zeroshot-set zs >/dev/null
expect_status 0 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --predictions pred.tsv
expect_eq "$(head -4 "$T/.stdout")" "$(printf 'records\t12\nclasses\t6\ntop1\t0.666667\ntop5\t1.000000')" "zero-shot metrics"
expect_eq "$(grep -c confusion "$T/.stdout")" "4" "confusion pairs"
expect_contains "$(cat "$T/.stdout")" "$(printf 'confusion\tzero\ttwo\t1')" "confusion: x08 is a zero taken for a two"
expect_eq "$(cut -f1,3,5 pred.tsv | sed -n 7p)" "$(printf 'x06\tzero\tthree')" "prediction line"
# a class list of the user's that repeats a name is warned of
{ cat zs/classes.txt; head -1 zs/classes.txt; } >zs/dup-classes.txt
expect_status 1 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/dup-classes.txt
expect_contains "$(cat "$T/.stderr")" "zs/dup-classes.txt: 1 class name(s) repeat ('$(head -1 zs/classes.txt)' x2)" \
  "a repeated class name in zeroshot"
# predictions that cannot be written are an error, not a silent loss
expect_status 1 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --predictions /dev/full
expect_contains "$(cat "$T/.stderr")" "/dev/full" "unwritable predictions named"
# labels given by name in a json field give the same numbers
expect_status 1 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --label-field lable
expect_contains "$(cat "$T/.stderr")" "--label-field lable: no record's json has a label there" "a mistyped --label-field"
expect_status 0 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --label-field label --json
expect_contains "$(cat "$T/.stdout")" '"top1":0.666666' "json label field"

# --- retrieval: a hand-made set with known recall, then numpy on a random one
mkdir ret
$REF retrieval-hand ret
expect_status 0 clippo-knn retrieval --db ret/hand.shard
expect_eq "$(cat "$T/.stdout")" "$(printf 'images\t3\ntexts\t4\ni2t_recall@1\t0.666667\ni2t_recall@5\t1.000000\ni2t_recall@10\t1.000000\nt2i_recall@1\t0.500000\nt2i_recall@5\t1.000000\nt2i_recall@10\t1.000000')" "hand-made retrieval"
$REF retrieval-set ret
expect_status 0 clippo-knn retrieval --db ret/ret.shard
expect_eq "$(cat "$T/.stdout")" "$($REF retrieval ret)" "retrieval recall = numpy"
done_testing
