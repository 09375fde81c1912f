# clippo-knn refuses bad input with a clear message: exit 1 for bad data,
# 2 for a bad command line; never a crash or a hang.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
$PY "$CLIPPO_SOURCE/tests/ref/search_ref.py" bad .

expect_status 1 clippo-knn --db noemb.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "clippo-knn: error: noemb.shard: no embeddings (img.npy or txt.npy) in 2 records" "no embeddings"
expect_status 1 clippo-knn --db mixed_dim.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "mixed_dim.shard: b.img.npy: embedding has 16 dimensions, but mixed_dim.shard: a.img.npy has 8" "mixed dims"
expect_status 1 clippo-knn --db model_a.shard --db model_b.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "model_b.shard: embeddings from model 'bbb', but model_a.shard has model 'aaa'" "mixed models"
# one stream, two models (cat a.shard b.shard): the second header is checked too
expect_status 1 sh -c 'cat model_a.shard model_b.shard | clippo-knn --query-emb noheader.shard'
expect_contains "$(cat "$T/.stderr")" "a later part of <stdin>: embeddings from model 'bbb', but its first part has model 'aaa'" "mixed models in one stream"
expect_status 1 clippo-knn zeroshot --db model_a.shard --class-emb model_b.shard
expect_contains "$(cat "$T/.stderr")" "model_b.shard: class embeddings from model 'bbb', but the records' from 'aaa'" "class embeddings of another model"
# a damaged .npy member: skipped and named by default, fatal with --on-error fail
expect_status 0 clippo-knn --db badnpy.shard --query-emb noheader.shard -k 1
expect_contains "$(cat "$T/.stderr")" "badnpy.shard: b.img.npy: not a .npy array (bad magic) (skipped)" "damaged .npy skipped"
expect_eq "$(cut -f4 "$T/.stdout" | sort -u)" "a" "only the good vector searched"
expect_status 1 clippo-knn --db badnpy.shard --query-emb noheader.shard -k 1 --on-error fail
expect_status 1 clippo-knn --db nan.shard --query-emb noheader.shard
expect_contains "$(cat "$T/.stderr")" "nan.shard: b.img.npy: the embedding holds NaN or infinity" "NaN embedding"
expect_status 1 clippo-knn --db empty.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "empty.shard: empty database" "empty database"
expect_status 1 sh -c ': | clippo-knn --query-emb q16.shard'
expect_contains "$(cat "$T/.stderr")" "<stdin>: empty database" "empty stream"
expect_status 1 clippo-knn --db matrix.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "matrix.shard: a.img.npy: an embedding must be 1-D" "2-D embedding"
expect_status 1 clippo-knn --db noheader.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "queries have 16 dimensions but the database has 8" "query dims"
# a text query needs a model: the header names none and --model is not given
expect_status 1 clippo-knn --db noheader.shard --query "a dog"
expect_contains "$(cat "$T/.stderr")" "needs the model, but the database header names none; give --model" "query without model"
expect_status 1 clippo-knn zeroshot --db noheader.shard --classes /dev/null
expect_contains "$(cat "$T/.stderr")" "no class names" "empty class list"
expect_status 1 clippo-knn --index nowhere.index --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "nowhere.index: not an index directory" "missing index"
mkdir half.index
expect_status 1 clippo-knn --index half.index --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "half.index: missing index.faiss" "incomplete index"
expect_status 1 clippo-knn build --db noheader.shard --index-type IVF64,Flat -o x.index
expect_contains "$(cat "$T/.stderr")" "building IVF64,Flat over 2 vectors failed" "too few training vectors"
[ -e x.index ] && fail "a failed build left x.index"
# --- an index folder is replaced whole: a failed rebuild leaves the old one
expect_status 0 clippo-knn build --db noheader.shard -o whole.index
cp whole.index/index.faiss before.faiss
expect_status 1 clippo-knn build --db noheader.shard --index-type IVF64,Flat -o whole.index
cmp -s before.faiss whole.index/index.faiss || fail "a failed rebuild changed the old index"
expect_eq "$(ls -A | grep -c '^\.whole\.index\.tmp')" "0" "a failed build leaves no folder of its own"
gone=$(sh -c 'echo $$')  # a process that has ended
mkdir .whole.index.tmp$gone  # a killed build's
expect_status 0 clippo-knn build --db noheader.shard -o whole.index
[ -e .whole.index.tmp$gone ] && fail "a killed build's folder was not removed"
mkdir notes && echo x >notes/readme.txt
expect_status 1 clippo-knn build --db noheader.shard -o notes
expect_contains "$(cat "$T/.stderr")" "notes: holds readme.txt, which no index does" "a folder of other files is no index to replace"
[ -f notes/readme.txt ] || fail "a refused build touched the folder's files"
echo x >afile
expect_status 1 clippo-knn build --db noheader.shard -o afile
expect_contains "$(cat "$T/.stderr")" "afile: not a folder" "a file given as the index folder"
# Two inputs whose records share a key: both kept (meta.shard names records by row)
$PY - <<'PYEOF'
import io, tarfile, numpy as np
for name, vec, cap in (("twin_a.shard", [1, 0, 0, 0], "first"), ("twin_b.shard", [0, 1, 0, 0], "second")):
    with tarfile.open(name, "w") as tf:
        bio = io.BytesIO(); np.save(bio, np.array(vec, np.float32))
        for member, data in (("000000000.img.npy", bio.getvalue()), ("000000000.txt", cap.encode())):
            ti = tarfile.TarInfo(member); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
PYEOF
expect_status 0 clippo-knn build --db twin_a.shard --db twin_b.shard -o twin.index
expect_status 0 clippo-knn --index twin.index --query-emb twin_a.shard -k 2
expect_eq "$(cut -f4,5 "$T/.stdout" | tr '\t\n' ' ')" "000000000 first 000000000 second " "records of one key from two inputs, each kept"
expect_status 1 clippo-knn retrieval --db noheader.shard
expect_contains "$(cat "$T/.stderr")" "retrieval needs records with both img.npy and txt.npy" "retrieval without captions"
expect_status 1 clippo-knn --db missing.shard --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "missing.shard" "missing file named"
# --device cuda where this libtorch has no CUDA (Debian's) or no GPU is
# visible: exit 1 naming why, before the data is read; never a quiet CPU search
if clippo-knn --device cuda --db noheader.shard --query-emb noheader.shard >cuda.out 2>cuda.err; then
  expect_eq "$(cat cuda.out)" "$(clippo-knn --db noheader.shard --query-emb noheader.shard)" "--device cuda = the CPU's results"
else
  for cmd in search zeroshot retrieval; do
    q=(); [ $cmd = search ] && q=(--query-emb noheader.shard)
    expect_status 1 clippo-knn $cmd --device cuda --db missing.shard "${q[@]}"
    expect_contains "$(cat "$T/.stderr")" "clippo-knn: error: --device cuda: this libtorch has no CUDA support or no GPU is visible (use --device cpu)" "$cmd --device cuda without CUDA"
  done
fi

# usage errors: exit 2
# a word that is not a command is a database shard
expect_status 1 clippo-knn frobnicate --query-emb q16.shard
expect_contains "$(cat "$T/.stderr")" "frobnicate" "unknown word named"
expect_status 2 clippo-knn --db noheader.shard --query-emb q16.shard -k 0
expect_status 2 clippo-knn --db noheader.shard
expect_contains "$(cat "$T/.stderr")" "no queries" "no queries"
expect_status 2 clippo-knn build --db noheader.shard --index-type Bogus99 -o y.index
expect_contains "$(cat "$T/.stderr")" "not a FAISS index_factory string" "bad factory"
expect_status 2 clippo-knn build --db noheader.shard
expect_contains "$(cat "$T/.stderr")" "give -o DIR" "build without -o"
expect_status 2 clippo-knn build --db noheader.shard --seed -1 -o y.index  # not read as 2^64-1
expect_contains "$(cat "$T/.stderr")" "--seed -1: must be >= 0" "a negative seed"
expect_status 2 clippo-knn zeroshot --db noheader.shard
expect_status 2 clippo-knn --db noheader.shard --query-emb q16.shard --field foo
expect_status 2 clippo-knn --db noheader.shard --query-emb noheader.shard --nprobe 0
expect_contains "$(cat "$T/.stderr")" "--nprobe 0: must be at least 1" "--nprobe 0"
# An option of another command would be ignored: refused, naming its command.
expect_status 2 clippo-knn retrieval --db noheader.shard -k 3
expect_contains "$(cat "$T/.stderr")" "-k is an option of search, not of retrieval" "-k of retrieval"
expect_status 2 clippo-knn --db noheader.shard --query-emb noheader.shard --predictions p.tsv
expect_contains "$(cat "$T/.stderr")" "--predictions is an option of zeroshot, not of search" "--predictions of search"
[ -e p.tsv ] && fail "a refused --predictions wrote its file"
expect_status 2 clippo-knn --db noheader.shard --query-emb noheader.shard --batch-size -5
expect_contains "$(cat "$T/.stderr")" "--batch-size -5: must be >= 0" "a negative --batch-size"
expect_status 2 clippo-knn --db noheader.shard --query-emb noheader.shard --ef-search -5
mkdir -p flat.index && expect_status 0 clippo-knn build --db noheader.shard -o flat.index
held=$($PY -c "import json; print(json.load(open('flat.index/index.json'))['field'])")
other=$([ "$held" = img ] && echo txt || echo img)
expect_status 2 clippo-knn --index flat.index --field $other --query-emb noheader.shard
expect_contains "$(cat "$T/.stderr")" "--field $other: flat.index holds the $held vectors" "--field that the index does not hold"
expect_status 2 clippo-knn zeroshot --index flat.index --classes /dev/null
expect_contains "$(cat "$T/.stderr")" "zeroshot reads embedding shards (--db SHARDS or stdin), not --index" "zeroshot with --index"
# -o belongs to build: elsewhere it is refused, not ignored
expect_status 2 clippo-knn --db noheader.shard --query-emb q16.shard -o results.tsv
expect_contains "$(cat "$T/.stderr")" "prints to stdout" "-o outside build"
[ -e results.tsv ] && fail "-o outside build wrote a file"
# a command word after the options: named as such, not as a missing shard
expect_status 2 clippo-knn --threads 1 zeroshot --db noheader.shard
expect_contains "$(cat "$T/.stderr")" "'zeroshot' is a command: give it first" "misplaced command"
done_testing
